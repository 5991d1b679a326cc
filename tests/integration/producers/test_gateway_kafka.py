"""The gateway on the real Kafka: the OpenAI SDK as client, secrets, side effects, and a Kafka outage."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer

from infra.kafka_clients import ensure_topics
from schemas.events import InferenceEvent
from schemas.settings import Settings
from shadow_optic.stack.kafka_broker import ensure_kafka_jars, start_kafka, wait_for_kafka
from shadow_optic.stack.processes import free_port, wait_until
from tests.integration.conftest import ProcessGroup, http_json

pytestmark = pytest.mark.integration


def _start_gateway(processes: ProcessGroup, settings: Settings, name: str = "gateway") -> str:
    port = free_port()
    gateway_settings = settings.model_copy(update={"gateway_port": port})
    process = processes.start(name, gateway_settings, "gateway")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, name, process)
    return base


def _read_raw(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[bytes]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(values) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                values.append(message.value())
    finally:
        consumer.close()
    return values


def _delivered(base: str) -> int:
    return http_json(f"{base}/healthz")["publisher"]["delivered"]


def test_openai_sdk_gets_exactly_what_upstream_sent_and_the_event_matches(pipeline_settings, processes):
    import openai
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4", "--latency-ms", "5")
    settings = pipeline_settings.model_copy(update={"production_url": production_url,
                                                    "production_model_rev": "rev-7"})
    base = _start_gateway(processes, settings)
    via_gateway = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-test-0123456789abcdefghijk")
    direct = openai.OpenAI(base_url=production_url, api_key="unused")
    messages = [{"role": "user", "content": "Name three rivers in Europe."}]

    answer = via_gateway.chat.completions.create(model="gpt-4", messages=messages, temperature=0)
    expected = direct.chat.completions.create(model="gpt-4", messages=messages, temperature=0)
    assert answer.choices[0].message.content == expected.choices[0].message.content
    assert answer.usage.model_dump() == expected.usage.model_dump() and answer.model == expected.model

    streamed = via_gateway.chat.completions.create(model="gpt-4", messages=messages, stream=True)
    deltas = [chunk.choices[0].delta.content or "" for chunk in streamed]
    direct_deltas = [c.choices[0].delta.content or "" for c in
                     direct.chat.completions.create(model="gpt-4", messages=messages, stream=True)]
    assert deltas == direct_deltas and len(deltas) > 1  # same chunks, not one blob

    events = [InferenceEvent.model_validate_json(v) for v in _read_raw(settings.kafka_bootstrap,
                                                                       settings.topics.requests, 2)]
    assert len(events) == 2
    plain, stream = sorted(events, key=lambda e: e.event_id)  # ULIDs sort by request time
    for event in (plain, stream):
        assert event.app == settings.app_name and event.production_model_rev == "rev-7"
        assert event.response.text == expected.choices[0].message.content
        assert event.request.messages[0].content == messages[0]["content"] and event.replayable
    assert plain.request.params == {"temperature": 0} and not plain.request.stream
    assert stream.request.stream and stream.ttft_ms is not None and stream.ttft_ms <= stream.latency_ms
    assert plain.request_hash != stream.request_hash  # temperature differs; the stream flag alone would not


def test_planted_secrets_never_reach_the_topic_and_side_effects_are_not_replayable(pipeline_settings, processes):
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4")
    settings = pipeline_settings.model_copy(update={"production_url": production_url})
    base = _start_gateway(processes, settings)
    secrets = ["sk-zzplanted0123456789abcdef", "zz-cookie-secret", "zz-query-secret", "zz-body-field-secret",
               "zz-xapikey-secret", "zz-tag-secret", "eyJzzzzzzzzzz.eyJyyyyyyyyyy.sigsigsigsig"]
    body = {"model": "gpt-4", "user": "carol@example.com",
            "messages": [{"role": "user", "content": f"use {secrets[0]} and token {secrets[6]}; "
                                                     "mail carol@example.com, card 4111-1111-1111-1111"}],
            "metadata": {"api_key": secrets[3]}, "response_format": {"type": "text", "password": secrets[3]}}
    headers = {"authorization": f"Bearer {secrets[0]}", "cookie": f"session={secrets[1]}",
               "x-api-key": secrets[4], "x-shadow-tag-auth-token": secrets[5], "x-shadow-tag-team": "risk"}
    side_effects = [
        {**body, "tools": [{"type": "function", "function": {"name": "refund", "parameters": {}}}]},
        {"model": "gpt-4", "messages": [{"role": "assistant", "content": "", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "send_email", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "1", "content": "sent"}]},
    ]
    with httpx.Client(timeout=30) as client:
        assert client.post(f"{base}/v1/chat/completions?key={secrets[2]}", json=body, headers=headers).status_code == 200
        for payload in side_effects:
            assert client.post(f"{base}/v1/chat/completions", json=payload).status_code == 200
        assert client.post(f"{base}/v1/chat/completions", json={**body, "metadata": {}},
                           headers={"x-shadow-no-replay": "true"}).status_code == 200
    raw = _read_raw(settings.kafka_bootstrap, settings.topics.requests, 4)
    assert len(raw) == 4
    wire = b"\n".join(raw).decode()
    for secret in secrets + ["carol@example.com", "4111-1111-1111-1111"]:
        assert secret not in wire, f"{secret!r} reached Kafka"
    events = sorted((InferenceEvent.model_validate_json(v) for v in raw), key=lambda e: e.event_id)
    first = events[0]
    assert first.replayable and first.tags == {"auth-token": "[REDACTED]", "team": "risk"}
    assert first.redactions["email"] >= 1 and first.redactions["card"] >= 1 and first.redactions["secret"] >= 3
    assert [e.replayable for e in events[1:]] == [False, False, False]
    assert "tools" in events[1].not_replayable_reason and "x-shadow-no-replay" in events[3].not_replayable_reason


@pytest.fixture
def own_kafka(stack_settings: Settings, tmp_path: Path):
    """A broker of this test's own, to stop and start again; the session's broker is left alone."""
    libs = ensure_kafka_jars(stack_settings.cache_dir, stack_settings.kafka_version)
    port, controller = free_port(), free_port()
    data = tmp_path / "kafka"
    state = {"process": None}

    def start() -> str:
        state["process"] = start_kafka(libs, data, port, controller, heap_mb=256)
        wait_for_kafka(f"127.0.0.1:{port}", state["process"], 90)
        return f"127.0.0.1:{port}"

    def stop() -> None:
        if state["process"] is not None:
            state["process"].stop(timeout_s=20)
            state["process"] = None

    yield start, stop
    stop()


def test_kafka_outage_changes_nothing_for_callers_and_events_flow_again(pipeline_settings, processes, own_kafka):
    start, stop = own_kafka
    bootstrap = start()
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4")
    settings = pipeline_settings.model_copy(update={"production_url": production_url, "kafka_bootstrap": bootstrap,
                                                    "publisher_buffer_bytes": 1024 * 1024})
    ensure_topics(bootstrap, [settings.topics.requests], 1)
    base = _start_gateway(processes, settings)

    def send(n: int, prompt: str, tag: str) -> list[int]:
        with httpx.Client(timeout=30) as client:
            return [client.post(f"{base}/v1/chat/completions", headers={"x-shadow-tag-phase": tag},
                                json={"model": "gpt-4", "messages": [{"role": "user", "content": prompt}]}).status_code
                    for _ in range(n)]

    assert send(10, "before the outage", "before") == [200] * 10
    wait_until(lambda: _delivered(base) >= 10, 30, "events delivered before the outage")

    stop()
    big = "lorem ipsum " * 6000  # ~72 KB an event: 40 of them overflow the 1 MB buffer
    assert send(40, big, "during") == [200] * 40  # every request served while Kafka is down
    health = http_json(f"{base}/healthz")
    assert health["capture"]["outcomes"]["dropped"] > 0  # the overflow was dropped and counted
    queued = health["capture"]["outcomes"]["published"] - 10
    assert queued > 0 and health["publisher_pending"] >= queued

    start()  # the same broker, same data and port, comes back
    assert send(10, "after the outage", "after") == [200] * 10
    wait_until(lambda: _delivered(base) >= 20 + queued, 60, "events delivered after Kafka returned")
    phases = [InferenceEvent.model_validate_json(v).tags["phase"]
              for v in _read_raw(bootstrap, settings.topics.requests, 20 + queued)]
    assert phases.count("before") == 10 and phases.count("after") == 10 and phases.count("during") == queued
    assert "shadow_gateway_dropped_total" in httpx.get(f"{base}/metrics").text
