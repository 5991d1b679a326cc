"""Privacy on the real stack: one tenant's and one user's data deleted from ClickHouse, what stays in Kafka
reported with when retention removes it; retention applied to topics and tables from one setting."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from infra.kafka_clients import ensure_topics
from infra.retention import apply_table_ttl, apply_topic_retention, retained_tables, retention_ms, topic_retention
from shadow_optic.child_env import settings_env
from shadow_optic.stack.processes import wait_until
from tests.integration.conftest import REPO_ROOT
from tests.integration.stream_agents.helpers import make_event, publish

pytestmark = pytest.mark.integration


def _insert_scores(clickhouse, events, challenger: str = "c1") -> None:
    now = datetime.now(UTC)
    clickhouse.insert("shadow_scores", [[e.event_id, challenger, e.app, e.tenant or "", e.ts_request, now, "ok", "v1"]
                                        for e in events],
                      column_names=["event_id", "challenger", "app", "tenant", "ts_request", "ts_scored", "status",
                                    "scorer_version"])


def _cli(settings, *args: str) -> dict:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run([sys.executable, "-m", "shadow_optic", *args, "--json"], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _count(clickhouse, app: str, where: str = "1") -> int:
    return int(clickhouse.command(f"SELECT count() FROM shadow_scores WHERE app = {{a:String}} AND {where}",
                                  parameters={"a": app}))


def test_a_tenant_and_a_user_are_forgotten_in_clickhouse_and_kafka_says_until_when(pipeline_settings, clickhouse):
    settings = pipeline_settings
    app, run = settings.app_name, uuid.uuid4().hex[:8]
    gone, kept = f"acme-{run}", f"globex-{run}"
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    apply_topic_retention(settings.kafka_bootstrap, settings.topics.all(), 6)
    wait_until(lambda: topic_retention(settings.kafka_bootstrap, [settings.topics.requests])[settings.topics.requests]
               == retention_ms(6), 30, "retention.ms of 6 days on the requests topic")
    events = []
    for i in range(6):
        event = make_event(f"p{i}-{app}", app).model_copy(update={
            "tenant": gone if i < 3 else kept, "tags": {"user": f"u-{run}" if i in (3, 4) else f"other-{run}"}})
        events.append(event)
    publish(settings, events)
    _insert_scores(clickhouse, events)
    assert _count(clickhouse, app) == 6

    dry = _cli(settings, "privacy", "forget", "--tenant", gone, "--dry-run")
    assert dry["dry_run"] and dry["deleted_rows"]["shadow_scores"] == 3 and _count(clickhouse, app) == 6

    report = _cli(settings, "privacy", "forget", "--tenant", gone)
    assert report["deleted_rows"]["shadow_scores"] == 3 and report["event_ids"] == 3
    assert _count(clickhouse, app) == 3 and _count(clickhouse, app, f"tenant = '{gone}'") == 0
    requests = next(k for k in report["kafka"] if k["topic"] == settings.topics.requests)
    assert requests["messages"] == 3 and requests["retention_ms"] == retention_ms(6)
    newest = datetime.fromisoformat(requests["newest"])
    assert datetime.fromisoformat(requests["gone_by"]) == newest + timedelta(days=6)

    by_user = _cli(settings, "privacy", "forget", "--user", f"u-{run}")
    assert by_user["event_ids"] == 2 and by_user["deleted_rows"]["shadow_scores"] == 2
    assert _count(clickhouse, app) == 1  # the other user of the kept tenant


def test_retention_is_set_on_the_topics_and_as_a_ttl_on_the_tables(pipeline_settings, clickhouse):
    settings = pipeline_settings
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    apply_topic_retention(settings.kafka_bootstrap, settings.topics.all(), 3.5)
    # The broker applies a config change through its metadata log: visible a moment later.
    wait_until(lambda: set(topic_retention(settings.kafka_bootstrap, settings.topics.all()).values())
               == {retention_ms(3.5)}, 30, "retention.ms of 3.5 days on every pipeline topic")

    tables = dict(retained_tables(clickhouse))
    assert tables["shadow_scores"] == "ts_request" and "shadow_decisions" not in tables
    # The shared test database: a century, so no other test's rows expire; taken away again below.
    try:
        changed = apply_table_ttl(clickhouse, 36500)
        assert set(changed) == set(tables)
        for table, column in tables.items():
            assert f"toDateTime({column}) + toIntervalSecond({36500 * 86400})" in \
                clickhouse.command(f"SHOW CREATE TABLE {table}"), table
        # A table's own clean-up rule stays beside the retention rule.
        assert "span_hours = 0" in clickhouse.command("SHOW CREATE TABLE shadow_evidence_hourly")
        # ... and beside an unconditional one of the table's own (shadow_answers' per-row expiry).
        assert "TTL expires_at" in clickhouse.command("SHOW CREATE TABLE shadow_answers")
    finally:
        apply_table_ttl(clickhouse, None)
    assert "toIntervalSecond" not in clickhouse.command("SHOW CREATE TABLE shadow_scores")
    assert "span_hours = 0" in clickhouse.command("SHOW CREATE TABLE shadow_evidence_hourly")
    assert "TTL expires_at" in clickhouse.command("SHOW CREATE TABLE shadow_answers")
