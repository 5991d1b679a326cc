"""Verdicts, promote and rollback on the real stack: Redis registry, history table, shadow.decisions."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
import redis

from analytics.alerts import evaluate_alerts
from analytics.champion import PRODUCTION, ChampionRegistry
from analytics.history import list_history
from analytics.scope import Scope
from analytics.service import promote, rollback, verdicts
from analytics.staleness import LagStatus, kafka_lag
from schemas.errors import InvalidRequestError
from shadow_optic.cli import main
from tests.integration.analytics.synthetic import START, insert, insert_judgments, make_records, with_judgments

N = 1200


@pytest.fixture
def app_settings(stack_settings):
    run = uuid.uuid4().hex[:8]
    return stack_settings.model_copy(update={"app_name": f"promo-{run}", "topic_prefix": f"t{run}.",
                                             "consumer_group": f"g-{run}", "champion_key_prefix": f"champ-{run}"})


@pytest.fixture
def loaded(app_settings, clickhouse):
    app = app_settings.app_name
    insert(clickhouse, make_records(app, "control", N, seed=2, control=True, cost=0.002))
    # Similarity says how close each is to production; only the judge's verdicts say which is better.
    for name, seed, shift, cost, win_rate in (("worse", 1, -0.05, 0.0008, 0.25), ("better-cheap", 3, 0.05, 0.0005, 0.8),
                                              ("better-pricey", 4, 0.05, 0.0015, 0.8)):
        records = with_judgments(make_records(app, name, N, seed=seed, shift=shift, cost=cost), win_rate, seed=seed)
        insert(clickhouse, records)
        insert_judgments(clickhouse, records)
    return app


def test_verdicts_pick_the_cheapest_passing_and_reject_the_worse(app_settings, clickhouse, loaded):
    report = verdicts(clickhouse, app_settings, loaded)
    by = {v.challenger: v for v in report.verdicts}
    assert set(by) == {"worse", "better-cheap", "better-pricey"}
    # The judge's verdicts reach the gates through shadow_judgments (judge → gate, on the real store).
    assert by["worse"].verdict == "reject" and by["worse"].quality_source == "judge"
    assert "worse on quality" in by["worse"].explanation[0]
    assert by["worse"].quality.pairs == N and abs(by["worse"].quality.win_rate - 0.25) < 0.05
    assert by["better-cheap"].verdict == "promote" and by["better-cheap"].confidence > 0.99
    assert by["better-pricey"].verdict == "promote" and by["better-pricey"].quality.outcome == "better"
    assert report.recommended == "better-cheap"
    assert any("noise floor" in line for line in by["worse"].explanation)
    # Slices per route and tenant come from the same judgments.
    assert {(s.dimension, s.value) for s in by["worse"].slices} == {("route", "chat"), ("route", "search"),
                                                                     ("tenant", "t1"), ("tenant", "t2")}


def test_stale_window_gives_no_verdict(app_settings, clickhouse, loaded):
    lagging = lambda _s: LagStatus(group="g", topics=[], lag_messages=50_000)  # noqa: E731
    report = verdicts(clickhouse, app_settings, loaded, lag_check=lagging)
    assert {v.verdict for v in report.verdicts} == {"stale"}


def test_a_few_old_unconsumed_events_make_the_window_stale(app_settings, clickhouse, loaded):
    """Five messages behind (far under the message limit), the oldest an hour old: no verdict."""
    import time

    from confluent_kafka import Consumer, Producer, TopicPartition

    from infra.kafka_clients import ensure_topics

    topic, bootstrap = app_settings.topics.requests, app_settings.kafka_bootstrap
    ensure_topics(bootstrap, [topic], 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    hour_ago_ms = int(time.time() * 1000) - 3_600_000
    for i in range(5):
        producer.produce(topic, value=b"{}", partition=0, timestamp=hour_ago_ms + i)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": app_settings.consumer_group,
                         "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)  # the group processed nothing yet
    consumer.close()
    status = kafka_lag(app_settings)
    assert status.lag_messages == 5 and status.lag_seconds > 3000, status
    report = verdicts(clickhouse, app_settings, loaded, lag_check=kafka_lag)
    assert {v.verdict for v in report.verdicts} == {"stale"}
    assert all("s behind" in " ".join(v.explanation) for v in report.verdicts)


def test_kafka_lag_reads_the_real_broker(app_settings):
    status = kafka_lag(app_settings)
    assert status.error is None and status.lag_messages == 0  # no topics of this prefix yet: nothing behind


def test_a_plain_rollback_after_the_first_promotion_restores_production(app_settings, clickhouse, loaded):
    registry = ChampionRegistry(redis.Redis.from_url(app_settings.redis_url, decode_responses=True),
                                app_settings.champion_key_prefix)
    with pytest.raises(InvalidRequestError, match="never promoted"):
        rollback(clickhouse, app_settings, registry, loaded)  # nothing to roll back yet
    first = promote(clickhouse, app_settings, registry, loaded, "better-cheap")
    assert first.done and first.champion.previous == PRODUCTION
    back = rollback(clickhouse, app_settings, registry, loaded)
    assert (back.champion.champion, back.champion.previous) == (PRODUCTION, "better-cheap")
    assert back.challenger == PRODUCTION and list_history(clickhouse, loaded, kind="rollback")[0].challenger == PRODUCTION
    # A first promotion stored before `previous` named production (champion set, previous empty).
    registry._redis.hset(registry.key(loaded), mapping={"champion": "better-pricey", "previous": ""})
    legacy = rollback(clickhouse, app_settings, registry, loaded)
    assert (legacy.champion.champion, legacy.champion.previous) == (PRODUCTION, "better-pricey")


def test_promote_rollback_registry_history_and_topic(app_settings, clickhouse, loaded):
    from confluent_kafka import Consumer

    registry = ChampionRegistry(redis.Redis.from_url(app_settings.redis_url, decode_responses=True),
                                app_settings.champion_key_prefix)
    pubsub = registry._redis.pubsub()
    pubsub.subscribe(registry.channel(loaded))
    refused = promote(clickhouse, app_settings, registry, loaded, "worse")
    assert not refused.done and registry.current(loaded).champion is None
    done = promote(clickhouse, app_settings, registry, loaded)  # default: the cheapest passing
    assert done.done and done.delivery.published
    state = registry.current(loaded)
    assert (state.champion, state.version) == ("better-cheap", 1)
    back = rollback(clickhouse, app_settings, registry, loaded, to="gpt-prod", reason="test")
    assert back.champion.champion == "gpt-prod" and back.champion.previous == "better-cheap"
    again = rollback(clickhouse, app_settings, registry, loaded)
    assert again.champion.champion == "better-cheap" and again.champion.version == 3
    messages = [m for m in iter(lambda: pubsub.get_message(timeout=1.0), None) if m["type"] == "message"]
    assert [m["data"].split("|")[0] for m in messages] == ["better-cheap", "gpt-prod", "better-cheap"]

    history = list_history(clickhouse, loaded)
    assert [h.kind for h in history] == ["rollback", "rollback", "promote", "promote"]
    assert history[-1].verdict == "refused" and history[-2].evidence["evidence"]["paired_n"] == N

    consumer = Consumer({"bootstrap.servers": app_settings.kafka_bootstrap, "group.id": f"read-{loaded}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([app_settings.topics.decisions])
    seen = []
    for _ in range(30):
        message = consumer.poll(1.0)
        if message is not None and not message.error():
            seen.append(json.loads(message.value()))
        if len(seen) == 4:
            break
    consumer.close()
    assert sorted(d["decision_id"] for d in seen) == sorted(h.decision_id for h in history)


def test_alerts_fire_once_with_hysteresis(app_settings, clickhouse):
    app = app_settings.app_name + "-alerts"
    settings = app_settings.model_copy(update={"alert_window_minutes": 5})
    # 2 h of normal traffic, then 40 min where the challenger refuses often.
    insert(clickhouse, make_records(app, "c", 480, seed=5, hours=2.0))
    insert(clickhouse, make_records(app, "c", 160, seed=6, hours=2 / 3, refusal_rate=0.3,
                                    start=START + timedelta(hours=2)))
    events, firing = evaluate_alerts(clickhouse, settings, Scope(app=app))
    refusal = [e for e in events if e.rule == "refusal_rate"]
    assert [e.state for e in refusal] == ["firing"] and firing
    assert refusal[0].window_start >= (START + timedelta(hours=2)).replace(tzinfo=None)
    evaluate_alerts(clickhouse, settings, Scope(app=app))  # evaluating again records nothing new
    stored = clickhouse.command("SELECT count() FROM shadow_alerts FINAL WHERE app = {a:String} AND rule = 'refusal_rate'",
                                parameters={"a": app})
    assert stored == 1


def test_cli_verdict_and_promote_json(app_settings, loaded, monkeypatch, capsys):
    for field in ("clickhouse_url", "redis_url", "kafka_bootstrap", "app_name", "topic_prefix", "consumer_group",
                  "champion_key_prefix"):
        monkeypatch.setenv(f"SHADOW_{field.upper()}", str(getattr(app_settings, field)))
    assert main(["verdict", "--json", "--no-lag-check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {v["challenger"]: v["verdict"] for v in report["verdicts"]}["worse"] == "reject"
    assert main(["promote", "--json", "--no-lag-check"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["done"] and result["challenger"] == "better-cheap" and result["verdict"]["score"] >= 70
