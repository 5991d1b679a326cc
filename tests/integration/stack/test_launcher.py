"""`stack up | down | status` against real processes. Kafka and ClickHouse come from the session's
stack (as external services) so each test starts only what it checks: a real redis-server."""

from __future__ import annotations

import socket

import pytest

from schemas.errors import StackError
from schemas.settings import Settings
from shadow_optic.stack.kafka_broker import kafka_ready
from shadow_optic.stack.launcher import LocalStack, resolve_settings

pytestmark = pytest.mark.integration


def _settings(stack_settings: Settings, tmp_path, **extra) -> Settings:
    return Settings(state_dir=tmp_path / "state", cache_dir=stack_settings.cache_dir,
                    kafka_bootstrap=stack_settings.kafka_bootstrap, clickhouse_url=stack_settings.clickhouse_url,
                    **extra)


def test_up_is_idempotent_and_down_stops_only_what_up_started(stack_settings, tmp_path):
    settings = _settings(stack_settings, tmp_path)
    stack = LocalStack(settings)
    first = stack.up(log=lambda _m: None)
    redis_process = first.services["redis"].process
    assert redis_process is not None and redis_process.alive()
    assert first.services["kafka"].external and first.services["clickhouse"].external

    second = stack.up(log=lambda _m: None)
    assert second.services["redis"].process.pid == redis_process.pid  # reused, not restarted
    status = "\n".join(stack.status())
    assert "redis      running" in status and "kafka      external" in status

    resolved = resolve_settings(Settings(state_dir=settings.state_dir))
    assert resolved.redis_url == first.services["redis"].url

    assert stack.down() == ["redis"]
    assert not redis_process.alive()
    assert kafka_ready(stack_settings.kafka_bootstrap)  # the external broker is untouched


def test_a_failure_stops_what_this_call_started(stack_settings, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        settings = _settings(stack_settings, tmp_path).model_copy(
            update={"clickhouse_url": None, "clickhouse_port": busy})
        stack = LocalStack(settings)
        said: list[str] = []
        with pytest.raises(StackError, match="SHADOW_CLICKHOUSE_PORT"):
            stack.up(log=said.append)
    assert any(line.startswith("started redis") for line in said)  # redis did start…
    port = int(said[0].rsplit(":", 1)[1].split("/")[0].split()[0])
    with socket.socket() as probe:  # …and was stopped again: its port is free
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert stack.load().services == {}


def test_a_missing_prerequisite_names_the_fix(stack_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    stack = LocalStack(_settings(stack_settings, tmp_path))
    with pytest.raises(StackError, match="apt-get install -y redis-server"):
        stack.up(log=lambda _m: None)


def test_the_stacks_own_0_1_store_is_set_aside_and_rebuilt(stack_settings, tmp_path):
    from infra.clickhouse import connect

    settings = _settings(stack_settings, tmp_path).model_copy(update={"clickhouse_url": None})
    stack = LocalStack(settings)
    first = stack.up(log=lambda _m: None)
    client = connect(first.services["clickhouse"].url)
    try:  # what a 0.1 store records (its first migration, squashed away in 0.2)
        client.insert("shadow_schema_migrations", [[1, "001_shadow_scores.sql"]], column_names=["version", "name"])
        client.command("OPTIMIZE TABLE shadow_schema_migrations FINAL")
    finally:
        client.close()
    stack.down()

    said: list[str] = []
    second = stack.up(log=said.append)
    try:
        kept = sorted((settings.state_dir).glob("clickhouse-0.1-*"))
        assert len(kept) == 1 and any(str(kept[0]) in line for line in said), said  # kept, not deleted, and said
        client = connect(second.services["clickhouse"].url)
        try:
            names = {row[0] for row in client.query("SELECT name FROM shadow_schema_migrations FINAL").result_rows}
        finally:
            client.close()
        assert "001_scores.sql" in names and "001_shadow_scores.sql" not in names
    finally:
        stack.down()
