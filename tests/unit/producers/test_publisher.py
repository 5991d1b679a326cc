from datetime import UTC, datetime

from producers.mirror import CaptureConfig, CaptureOutcome
from producers.publisher import EventPublisher
from schemas.events import CapturedResponse, InferenceEvent, NormalizedRequest
from tests.unit.producers.conftest import UNREACHABLE


def event(i: int, size: int) -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(event_id=f"e{i}", route="/v1/chat/completions", ts_request=now, ts_response=now,
                          production_model="m", request=NormalizedRequest(model="m", prompt="x" * size),
                          response=CapturedResponse(status_code=200), latency_ms=1.0, request_hash="h")


def test_a_full_buffer_drops_and_counts_and_never_blocks() -> None:
    publisher = EventPublisher(UNREACHABLE, "shadow.requests", buffer_bytes=1024 * 1024)
    try:
        results = [publisher.publish(event(i, 10_000)) for i in range(300)]  # ~3 MB into a 1 MB buffer
        counts = publisher.counters.snapshot()
        assert results[0] is True and results[-1] is False
        assert counts["enqueued"] + counts["dropped_buffer_full"] == 300
        assert 50 <= counts["enqueued"] <= 110  # bounded by the byte cap, not by the message count
        # librdkafka's queue length also counts its own protocol requests (seen: 101 for 99 events)
        assert counts["enqueued"] <= publisher.pending() <= counts["enqueued"] + 5
    finally:
        publisher.close(timeout_s=0)


def test_capture_is_the_library_call() -> None:
    publisher = EventPublisher(UNREACHABLE, "shadow.requests", capture_config=CaptureConfig(app="lib"))
    try:
        result = publisher.capture({"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                                   {"choices": [{"message": {"content": "yo"}}]}, route="/v1/chat/completions",
                                   latency_ms=12.0)
        assert result.outcome is CaptureOutcome.PUBLISHED and result.event_id
        assert publisher.counters.snapshot()["enqueued"] == 1
        assert publisher.mirror.config.app == "lib"
    finally:
        publisher.close(timeout_s=0)


def test_events_too_large_for_kafka_are_dropped_not_raised() -> None:
    publisher = EventPublisher(UNREACHABLE, "shadow.requests", extra_config={"message.max.bytes": 2000})
    try:
        assert publisher.publish(event(1, 5000)) is False
        assert publisher.counters.snapshot()["dropped_too_large"] == 1
    finally:
        publisher.close(timeout_s=0)
