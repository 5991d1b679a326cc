"""Replay scores its batch itself; the scoring agent scores only results that arrive unscored."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer

from schemas.topics import SCORED_INLINE_HEADER
from shadow_optic.stack.processes import wait_until
from tests.integration.conftest import challenger, wait_for_rows
from tests.integration.stream_agents.helpers import make_event, publish

pytestmark = pytest.mark.integration
N = 20


def _inserted(clickhouse, app: str) -> int:
    """Rows as inserted (the rollup counts every insert, so a pair scored twice shows up here)."""
    return clickhouse.command("SELECT countMerge(rows) FROM shadow_scores_rollup WHERE app = {app:String} "
                              "AND bucket_minutes = 1 AND route = '*' AND tenant = '*'", parameters={"app": app})


def _results(settings) -> list:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.consumer_group}-read",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([settings.topics.results])
    found, deadline = [], time.monotonic() + 30
    while len(found) < N and time.monotonic() < deadline:
        found += [m for m in consumer.consume(100, timeout=1.0) if m.error() is None]
    consumer.close()
    return found


def test_inline_scoring_writes_once_and_unscored_results_still_get_scored(pipeline_settings, processes, clickhouse):
    url, _ = processes.sim_model(pipeline_settings, "alpha")
    settings = pipeline_settings.model_copy(update={"challengers": [challenger("alpha", url)]})
    app = settings.app_name
    worker = processes.start("worker", settings, "worker")
    publish(settings, [make_event(f"e{i}-{app}", app) for i in range(N)])
    assert wait_for_rows(clickhouse, app, N, process=worker, settle_s=2.0) == N
    assert _inserted(clickhouse, app) == N  # the scoring agent passed the marked results by

    results = _results(settings)
    assert len(results) == N
    assert all(dict(m.headers() or [])[SCORED_INLINE_HEADER] == b"1" for m in results)

    # A result without the mark (as a backfill writes them) is scored by the scoring agent.
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topics.results, key=results[0].key(), value=results[0].value())
    assert producer.flush(30) == 0
    wait_until(lambda: _inserted(clickhouse, app) == N + 1, 60, "the scoring agent to score it", worker)
    assert wait_for_rows(clickhouse, app, N) == N  # same (event, challenger): still counted once
