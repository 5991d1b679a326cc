"""Lag figures against Kafka's own ConsumerGroupCommand, on the real broker, with a slowed consumer."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from analytics.lag import LagMetrics, LagMonitor
from analytics.lag_alerts import AlertKind, AlertRule, LagAlerter
from infra.kafka_clients import ensure_topics
from shadow_optic.cli import main
from shadow_optic.stack.kafka_tools import describe_consumer_group, ensure_kafka_tools
from shadow_optic.stack.processes import wait_until

pytestmark = pytest.mark.integration

PER_PARTITION = 40
COMMITS = {0: 10, 1: 25, 2: 40}  # partition 3: assigned, never committed (Kafka prints '-')
BASE_TS_MS = int(time.time() * 1000) - 3_600_000  # records an hour old: lag seconds are large and exact


def _record_ts(partition: int, offset: int) -> int:
    return BASE_TS_MS + partition * 100_000 + offset * 1000


class _Webhook:
    """A real HTTP receiver on loopback for the alert webhook."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slowed_group(pipeline_settings):
    """A topic of 4 × 40 records and a live group member that committed only part of it."""
    topic = f"{pipeline_settings.topic_prefix}lag"
    group = f"{pipeline_settings.consumer_group}-slow"
    bootstrap = pipeline_settings.kafka_bootstrap
    ensure_topics(bootstrap, [topic], 4)
    producer = Producer({"bootstrap.servers": bootstrap})
    for partition in range(4):
        for offset in range(PER_PARTITION):
            producer.produce(topic, value=f"{partition}-{offset}".encode(), partition=partition,
                             timestamp=_record_ts(partition, offset))
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])

    def assigned() -> bool:
        consumer.poll(0.2)  # the slow consumer: it fetches, processes nothing, commits by hand below
        return len(consumer.assignment()) == 4
    wait_until(assigned, 60, "the slowed consumer to be assigned every partition")
    consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in COMMITS.items()], asynchronous=False)
    yield topic, group, consumer
    consumer.close()


def test_lag_figures_equal_kafka_consumer_group_command(pipeline_settings, slowed_group, capsys, monkeypatch):
    topic, group, _consumer = slowed_group
    libs = ensure_kafka_tools(pipeline_settings.cache_dir, pipeline_settings.kafka_tools_version)
    kafkas = {(r.topic, r.partition): r for r in
              describe_consumer_group(libs, pipeline_settings.kafka_bootstrap, group)}
    now = datetime.now(UTC)
    with LagMonitor(pipeline_settings.kafka_bootstrap) as monitor:
        ours = monitor.describe(group, now=now)
        assert group in monitor.list_groups()

    assert set(kafkas) == {(topic, p) for p in range(4)}
    assert {(p.topic, p.partition) for p in ours.partitions} == set(kafkas)
    for p in ours.partitions:
        theirs = kafkas[(p.topic, p.partition)]
        assert (p.committed_offset, p.end_offset, p.lag) == \
            (theirs.current_offset, theirs.log_end_offset, theirs.lag), p.partition
        assert p.consumer_id == theirs.consumer_id
    by_partition = {p.partition: p for p in ours.partitions}
    assert by_partition[3].committed_offset is None and by_partition[3].lag is None
    assert ours.total_lag == sum(PER_PARTITION - o for o in COMMITS.values())
    # Lag in seconds: the age of the first unconsumed record, from its own timestamp.
    for partition, offset in ((0, 10), (1, 25)):
        expected = (now.timestamp() * 1000 - _record_ts(partition, offset)) / 1000
        assert by_partition[partition].lag_seconds == pytest.approx(expected, abs=1e-3)
    assert by_partition[2].lag_seconds == 0.0

    metrics = LagMetrics()
    metrics.update(ours)
    assert metrics.registry.get_sample_value("shadow_optic_consumer_group_lag_messages", {"group": group}) == 45
    assert metrics.registry.get_sample_value(
        "shadow_optic_consumer_lag_messages", {"group": group, "topic": topic, "partition": "1"}) == 15
    assert metrics.registry.get_sample_value(
        "shadow_optic_consumer_lag_messages", {"group": group, "topic": topic, "partition": "3"}) is None

    # The CLI prints the same figures.
    monkeypatch.setenv("SHADOW_KAFKA_BOOTSTRAP", pipeline_settings.kafka_bootstrap)
    capsys.readouterr()
    assert main(["lag", "--group", group, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed[0]["total_lag"] == 45
    assert [p["lag"] for p in printed[0]["partitions"]] == [30, 15, 0, None]


def test_a_lag_alert_fires_and_clears_once(pipeline_settings, slowed_group, caplog):
    topic, group, consumer = slowed_group
    webhook = _Webhook()
    alerter = LagAlerter(AlertRule(fire_above=20, clear_below=5, checks=2), webhook.url)
    caplog.set_level(logging.INFO, logger="analytics.lag_alerts")
    seen = []
    try:
        with LagMonitor(pipeline_settings.kafka_bootstrap) as monitor:
            for _ in range(4):  # lag 45 > 20: fires on the 2nd check, and only then
                seen.append(alerter.observe(group, monitor.describe(group).total_lag))
            consumer.commit(offsets=[TopicPartition(topic, p, PER_PARTITION) for p in range(4)], asynchronous=False)
            for _ in range(4):  # caught up: clears on the 2nd check below 5, and only then
                seen.append(alerter.observe(group, monitor.describe(group).total_lag))
    finally:
        webhook.close()
    kinds = [a.kind if a else None for a in seen]
    assert kinds == [None, AlertKind.FIRED, None, None, None, AlertKind.CLEARED, None, None]
    assert [(w["kind"], w["group"], w["value"]) for w in webhook.received] == [("fired", group, 45.0),
                                                                              ("cleared", group, 0.0)]
    messages = [r.getMessage() for r in caplog.records if r.name == "analytics.lag_alerts"]
    assert len(messages) == 2 and "fired" in messages[0] and "cleared" in messages[1]
