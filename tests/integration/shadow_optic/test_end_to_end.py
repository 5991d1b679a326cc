"""The walking skeleton on real Kafka, Redis and ClickHouse: gateway -> replay -> scoring -> sink."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from producers.publisher import EventPublisher
from schemas.dead_letter import DeadLetter
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest
from shadow_optic.stack.processes import free_port, wait_until
from tests.integration.conftest import DATA_DIR, challenger, http_json, wait_for_rows

pytestmark = pytest.mark.integration
PAIRS = DATA_DIR / "paired_responses.jsonl"


def _pairs(n: int) -> list[dict]:
    with open(PAIRS, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle][:n]


def _event(event_id: str, prompt: str, answer: str, app: str) -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(
        event_id=event_id, app=app, route="/v1/chat/completions", ts_request=now - timedelta(milliseconds=80),
        ts_response=now, production_model="gpt-4",
        request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content=prompt)]),
        response=CapturedResponse(status_code=200, text=answer), latency_ms=80.0, request_hash=uuid.uuid4().hex,
    )


def test_requests_through_the_gateway_become_exactly_one_scored_row_per_challenger(
        pipeline_settings, processes, clickhouse):
    pairs = _pairs(30)
    answers = str(PAIRS)
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4", "--answers", answers,
                                            "--field", "production_response", "--latency-ms", "20")
    challenger_url, challenger_sim = processes.sim_model(pipeline_settings, "davinci", "--answers", answers,
                                                         "--field", "challenger_response", "--latency-ms", "10")
    gateway_port = free_port()
    settings = pipeline_settings.model_copy(update={
        "production_url": production_url, "gateway_port": gateway_port,
        "challengers": [challenger("davinci", challenger_url)],
    })
    worker = processes.start("worker", settings, "worker")
    gateway = processes.start("gateway", settings, "gateway")
    base = f"http://127.0.0.1:{gateway_port}"
    wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, "gateway", gateway)

    with httpx.Client(timeout=30) as client:
        for pair in pairs:
            response = client.post(f"{base}/v1/chat/completions",
                                   json={"model": "gpt-4", "messages": [{"role": "user", "content": pair["prompt"]}]})
            assert response.status_code == 200
            # The user gets production's answer, untouched.
            assert response.json()["choices"][0]["message"]["content"] == pair["production_response"]

    assert wait_for_rows(clickhouse, settings.app_name, len(pairs), process=worker, settle_s=2.0) == len(pairs)
    rows = clickhouse.query(
        "SELECT status, similarity, latency_delta_ms, challenger FROM shadow_scores FINAL WHERE app = {app:String}",
        parameters={"app": settings.app_name}).result_rows
    assert {r[0] for r in rows} == {"ok"}
    assert {r[3] for r in rows} == {"davinci"}
    assert all(0.0 <= r[1] <= 1.0 for r in rows)
    assert all(r[2] is not None for r in rows)
    assert http_json(challenger_url.removesuffix("/v1") + "/healthz")["requests"] == len(pairs)


def test_the_same_event_ids_published_twice_are_scored_once_and_called_once(pipeline_settings, processes, clickhouse):
    pairs = _pairs(20)
    challenger_url, _ = processes.sim_model(pipeline_settings, "davinci", "--answers", str(PAIRS),
                                            "--field", "challenger_response")
    settings = pipeline_settings.model_copy(update={"challengers": [challenger("davinci", challenger_url)]})
    worker = processes.start("worker", settings, "worker")
    events = [_event(f"evt-{i:04d}-{settings.app_name}", p["prompt"], p["production_response"], settings.app_name)
              for i, p in enumerate(pairs)]
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as publisher:
        for event in events:
            assert publisher.publish(event)
    assert wait_for_rows(clickhouse, settings.app_name, len(events), process=worker) == len(events)

    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as publisher:
        for event in events:  # at-least-once delivery, a producer retry, a replayed backfill…
            assert publisher.publish(event)
    # Wait until the worker has consumed the duplicates (its group's lag on requests is 0 again).
    _wait_consumed(settings, len(events) * 2)
    assert wait_for_rows(clickhouse, settings.app_name, len(events), settle_s=2.0) == len(events)
    raw_inserts = clickhouse.command("SELECT count() FROM shadow_scores WHERE app = {app:String}",
                                     parameters={"app": settings.app_name})
    assert raw_inserts >= len(events)  # duplicates may reach the table; FINAL counts each pair once
    assert http_json(challenger_url.removesuffix("/v1") + "/healthz")["requests"] == len(events)


def _wait_consumed(settings, expected_offsets: int, timeout_s: float = 60) -> None:
    from confluent_kafka import TopicPartition


    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": settings.consumer_group,
                         "enable.auto.commit": False})
    try:
        def committed_total() -> bool:
            tps = [TopicPartition(settings.topics.requests, p) for p in range(settings.topic_partitions)]
            offsets = consumer.committed(tps, timeout=5)
            return sum(max(tp.offset, 0) for tp in offsets) >= expected_offsets
        wait_until(committed_total, timeout_s, "worker to commit the duplicated events")
    finally:
        consumer.close()


def test_malformed_messages_go_to_the_dead_letter_topic_and_the_pipeline_goes_on(
        pipeline_settings, processes, clickhouse):
    pairs = _pairs(5)
    challenger_url, _ = processes.sim_model(pipeline_settings, "davinci", "--answers", str(PAIRS),
                                            "--field", "challenger_response")
    settings = pipeline_settings.model_copy(update={"challengers": [challenger("davinci", challenger_url)]})
    worker = processes.start("worker", settings, "worker")
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    bad = [b"\x00\xffnot json at all", b'{"schema_version": 1, "event_id": "x"}']
    for i, pair in enumerate(pairs):
        if i < len(bad):
            producer.produce(settings.topics.requests, key=f"bad-{i}".encode(), value=bad[i])
        event = _event(f"ok-{i}-{settings.app_name}", pair["prompt"], pair["production_response"], settings.app_name)
        producer.produce(settings.topics.requests, key=event.event_id.encode(), value=event.model_dump_json().encode())
    assert producer.flush(30) == 0

    assert wait_for_rows(clickhouse, settings.app_name, len(pairs), process=worker) == len(pairs)
    letters = _read_all(settings.kafka_bootstrap, settings.topics.dlq, expected=len(bad))
    assert sorted(letter.original_value() for letter in letters) == sorted(bad)
    assert all(letter.stage == "replay" and letter.topic == settings.topics.requests for letter in letters)
    reasons = " | ".join(letter.reason for letter in letters)
    assert "not a valid InferenceEvent" in reasons
    assert worker.alive()


def _read_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[DeadLetter]:
    import time

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    letters: list[DeadLetter] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(letters) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                letters.append(DeadLetter.model_validate_json(message.value()))
    finally:
        consumer.close()
    return letters
