"""Outages on the real stack: ClickHouse gone for a while, Redis gone for a while.

Each test gives the worker a PRIVATE server (its own chdb HTTP front, its own redis-server) so that it
can be killed by pid and restarted on the same port and data dir without touching the session stack.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from infra.clickhouse import connect
from schemas.clickhouse import migrate

from shadow_optic.stack.launcher import _http_ping
from shadow_optic.stack.processes import ManagedProcess, free_port, start_process, wait_until
from shadow_optic.stack.redis_server import start_redis, wait_for_redis
from tests.integration.conftest import REPO_ROOT, challenger, http_json, wait_for_rows
from tests.integration.stream_agents.helpers import get_text, make_event, metric, publish, rows

pytestmark = pytest.mark.integration


def start_chdb(data_dir: Path, port: int, log_dir: Path) -> ManagedProcess:
    """The same process the launcher starts for `stack up`, on a port and data dir of this test."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "shadow_optic.stack.chdb_server", "--path", str(data_dir),
            "--host", "127.0.0.1", "--port", str(port)]
    process = start_process("clickhouse", argv, log_dir / "clickhouse.log", marker=str(data_dir), cwd=REPO_ROOT)
    wait_until(lambda: _http_ping(f"http://127.0.0.1:{port}"), 60, "private ClickHouse", process)
    return process


def kill(process: ManagedProcess) -> None:
    os.kill(process.pid, signal.SIGKILL)  # only this process, by its pid
    wait_until(lambda: not process.alive(), 15, f"{process.name} to die")


@pytest.fixture
def owned(tmp_path: Path):
    """Servers this test starts itself; each is stopped (by pid) at the end."""
    started: list[ManagedProcess] = []
    yield started
    for process in reversed(started):
        process.stop(timeout_s=10)


def test_clickhouse_unreachable_for_a_while_loses_nothing_once_it_returns(
        pipeline_settings, processes, owned, tmp_path):
    data_dir, port = tmp_path / "chdb", free_port()
    url = f"http://127.0.0.1:{port}"
    owned.append(start_chdb(data_dir, port, tmp_path))
    client = connect(url)
    migrate(client)
    sim_url, _ = processes.sim_model(pipeline_settings, "steady")
    health = sim_url.removesuffix("/v1") + "/healthz"
    web_port = free_port()
    settings = pipeline_settings.model_copy(update={
        "clickhouse_url": url, "challengers": [challenger("steady", sim_url)], "worker_web_port": web_port,
        "replay_batch_size": 16})
    app = settings.app_name
    before = [make_event(f"chdown-a{i:03d}-{app}", app, f"prompt {i}") for i in range(40)]
    during = [make_event(f"chdown-b{i:03d}-{app}", app, f"later prompt {i}") for i in range(30)]
    worker = processes.start("worker", settings, "worker")
    publish(settings, before)
    assert wait_for_rows(client, app, len(before), timeout_s=120, process=worker) == len(before)
    client.close()

    kill(owned.pop())  # ClickHouse gone, the worker keeps running
    publish(settings, during)
    # Replay and scoring go on (the challenger is called for the new events); the sink cannot insert.
    wait_until(lambda: http_json(health)["requests"] >= len(before) + len(during), 90, "calls during the outage",
               worker)
    metrics_url = f"http://127.0.0.1:{web_port}/metrics"
    # The sink keeps the batch and retries inside its loop body: several failed attempts, a visible stall.
    wait_until(lambda: metric(get_text(metrics_url), "shadow_sink_failed_inserts_total") >= 2, 60,
               "the sink to retry its insert", worker)
    assert metric(get_text(metrics_url), "shadow_sink_stalled_seconds") > 0
    assert metric(get_text(metrics_url), "shadow_sink_rows_total") == len(before)

    owned.append(start_chdb(data_dir, port, tmp_path))  # same port, same data dir
    client = connect(url)
    try:
        total = len(before) + len(during)
        assert wait_for_rows(client, app, total, timeout_s=120, process=worker, settle_s=2.0) == total
        found = rows(client, app)
        assert sorted(r[0] for r in found) == sorted(e.event_id for e in before + during)
        assert {r[2] for r in found} == {"ok"}
    finally:
        client.close()
    model = http_json(health)
    assert model["requests"] == total  # every event called exactly once, none again after the outage
    assert model["repeated_event_ids"] == 0
    assert metric(get_text(metrics_url), "shadow_sink_stalled_seconds") == 0
    assert metric(get_text(metrics_url), "shadow_sink_rows_total") >= total


def test_redis_unreachable_fails_closed_and_the_worker_recovers_when_it_returns(
        pipeline_settings, processes, owned, tmp_path, clickhouse):
    redis_dir, port = tmp_path / "redis", free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    owned.append(start_redis(redis_dir, port, persistent=True))
    wait_for_redis(redis_url, owned[-1], 30)
    sim_url, _ = processes.sim_model(pipeline_settings, "steady")
    health = sim_url.removesuffix("/v1") + "/healthz"
    web_port = free_port()
    settings = pipeline_settings.model_copy(update={
        "redis_url": redis_url, "challengers": [challenger("steady", sim_url)], "worker_web_port": web_port,
        "replay_batch_size": 16})
    app = settings.app_name
    before = [make_event(f"rdown-a{i:03d}-{app}", app, f"prompt {i}") for i in range(30)]
    during = [make_event(f"rdown-b{i:03d}-{app}", app, f"later prompt {i}") for i in range(30)]
    worker = processes.start("worker", settings, "worker")
    publish(settings, before)
    assert wait_for_rows(clickhouse, app, len(before), timeout_s=120, process=worker) == len(before)
    assert http_json(health)["requests"] == len(before)

    kill(owned.pop())  # Redis gone (its append-only file keeps every claim and result)
    publish(settings, during)
    metrics_url = f"http://127.0.0.1:{web_port}/metrics"

    def stuck() -> bool:  # the worker holds new events and has failed to replay them at least once
        text = get_text(metrics_url)
        return (metric(text, "shadow_stage_messages_total", stage="replay") > len(before)
                and metric(text, "shadow_redis_errors_total") >= 1)

    wait_until(stuck, 60, "the replay agent to meet the Redis outage", worker)
    for _ in range(8):  # fail closed: no admission and no claim, so no call, for as long as Redis is away
        assert http_json(health)["requests"] == len(before)
        time.sleep(0.5)
    assert wait_for_rows(clickhouse, app, len(before)) == len(before)

    owned.append(start_redis(redis_dir, port, persistent=True))  # same port, same data dir
    wait_for_redis(redis_url, owned[-1], 30)
    total = len(before) + len(during)
    assert wait_for_rows(clickhouse, app, total, timeout_s=150, process=worker, settle_s=2.0) == total
    found = rows(clickhouse, app)
    assert sorted(r[0] for r in found) == sorted(e.event_id for e in before + during)
    assert {r[2] for r in found} == {"ok"}
    model = http_json(health)
    assert model["requests"] == total  # each event called once: none during the outage, none twice after
    assert model["repeated_event_ids"] == 0
    wait_until(lambda: http_json(f"http://127.0.0.1:{web_port}/ready")["ready"], 30, "the worker to be ready",
               worker)
