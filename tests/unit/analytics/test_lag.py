"""Lag figures, alerts with hysteresis, metrics, and parsing Kafka's describe table (no services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from analytics.lag import GroupLag, LagMetrics, PartitionLag
from analytics.lag_alerts import AlertKind, AlertRule, HysteresisAlert, LagAlerter
from schemas.errors import ConfigError
from schemas.settings import Settings
from shadow_optic.stack.kafka_tools import parse_describe_output


def _group(*lags: int | None, seconds: float | None = 1.0) -> GroupLag:
    return GroupLag(group="g", state="STABLE", checked_at=datetime.now(UTC), partitions=[
        PartitionLag(topic="t", partition=i, committed_offset=None if lag is None else 100,
                     end_offset=100 + (lag or 0), lag=lag, lag_seconds=None if lag is None else seconds)
        for i, lag in enumerate(lags)])


def test_hysteresis_fires_after_n_checks_above_and_clears_after_n_below_only():
    alert = HysteresisAlert(AlertRule(fire_above=100, clear_below=10, checks=3))
    values = [150, 150, 50, 150, 150, 150, 150, 50, 50, 5, 5, 50, 5, 5, 5, 5]
    kinds = [alert.observe(v) for v in values]
    assert kinds.count(AlertKind.FIRED) == 1 and kinds.index(AlertKind.FIRED) == 5  # the dip at 50 reset the streak
    assert kinds.count(AlertKind.CLEARED) == 1 and kinds.index(AlertKind.CLEARED) == 14
    assert not alert.firing


def test_values_between_the_thresholds_change_nothing():
    alert = HysteresisAlert(AlertRule(fire_above=100, clear_below=10, checks=1))
    assert alert.observe(101) is AlertKind.FIRED
    assert [alert.observe(v) for v in (99, 50, 11, 10)] == [None] * 4  # 10 is not below 10
    assert alert.firing


def test_a_clear_threshold_above_the_fire_threshold_is_a_config_error():
    with pytest.raises(ConfigError, match="hysteresis"):
        AlertRule.from_settings(Settings(lag_alert_fire_above=10, lag_alert_clear_below=20))


def test_alerts_go_to_the_webhook_as_json_and_a_failing_webhook_is_only_logged(caplog):
    posted: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(500 if len(posted) == 2 else 204)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        alerter = LagAlerter(AlertRule(fire_above=5, clear_below=1, checks=1), "http://hooks.invalid/T0/s3cret", http)
        assert alerter.observe("g", 10).kind is AlertKind.FIRED
        assert alerter.firing("g") and not alerter.firing("other")
        assert alerter.observe("g", 0).kind is AlertKind.CLEARED  # the webhook answers 500 this time
    assert [(p["kind"], p["group"], p["value"], p["threshold"]) for p in posted] == \
        [("fired", "g", 10.0, 5.0), ("cleared", "g", 0.0, 1.0)]
    assert "webhook" in caplog.text
    assert "s3cret" not in caplog.text  # chat webhooks carry their secret in the path: the URL is never logged


def test_group_totals_ignore_partitions_without_commits():
    lag = _group(30, 0, None, seconds=12.5)
    assert lag.total_lag == 30
    assert lag.max_lag_seconds == 12.5
    assert lag.summary()["partitions"][2]["lag"] is None


def test_metrics_export_known_figures_and_drop_unknown_and_vanished_partitions():
    metrics = LagMetrics()
    metrics.update(_group(30, 7, None), alert_firing=True)
    value = metrics.registry.get_sample_value
    assert value("shadow_optic_consumer_lag_messages", {"group": "g", "topic": "t", "partition": "1"}) == 7
    assert value("shadow_optic_consumer_lag_messages", {"group": "g", "topic": "t", "partition": "2"}) is None
    assert value("shadow_optic_consumer_group_lag_messages", {"group": "g"}) == 37
    assert value("shadow_optic_consumer_lag_alert", {"group": "g"}) == 1
    metrics.update(_group(3))  # the group lost partitions 1 and 2 in a rebalance
    assert value("shadow_optic_consumer_lag_messages", {"group": "g", "topic": "t", "partition": "1"}) is None
    assert value("shadow_optic_topic_end_offset", {"group": "g", "topic": "t", "partition": "1"}) is None
    assert value("shadow_optic_consumer_lag_alert", {"group": "g"}) == 0


DESCRIBE = """
Consumer group 'g1' has no active members.

GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
g1              t.lag           0          10              40              30              rdkafka-1a2b    /127.0.0.1      rdkafka
g1              t.lag           3          -               40              -               rdkafka-1a2b    /127.0.0.1      rdkafka
g1              t.lag           2          40              40              0               -               -               -
"""


def test_the_describe_table_of_kafka_consumer_groups_is_parsed_by_its_header():
    rows = {r.partition: r for r in parse_describe_output(DESCRIBE)}
    assert (rows[0].current_offset, rows[0].log_end_offset, rows[0].lag, rows[0].consumer_id) == \
        (10, 40, 30, "rdkafka-1a2b")
    assert rows[3].current_offset is None and rows[3].lag is None
    assert rows[2].consumer_id is None and rows[2].lag == 0
