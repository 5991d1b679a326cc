"""Shared pieces of the stream agents' process-level tests."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

from producers.publisher import EventPublisher
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest
from schemas.settings import Settings


def make_event(event_id: str, app: str, prompt: str = "Say something useful.") -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(
        event_id=event_id, app=app, route="/v1/chat/completions", ts_request=now - timedelta(milliseconds=50),
        ts_response=now, production_model="gpt-4",
        request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content=prompt)]),
        response=CapturedResponse(status_code=200, text=f"production answer to {prompt}"), latency_ms=50.0,
        request_hash=uuid.uuid4().hex)


def publish(settings: Settings, events: list[InferenceEvent]) -> None:
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as publisher:
        for event in events:
            assert publisher.publish(event)


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (Prometheus text format)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


def rows(clickhouse, app: str, columns: str = "event_id, challenger, status, error") -> list[tuple]:
    return clickhouse.query(f"SELECT {columns} FROM shadow_scores FINAL WHERE app = {{app:String}}",
                            parameters={"app": app}).result_rows
