"""BatchGuard: no exception leaves a batch body with the batch unprocessed."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
import redis.exceptions
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError
from prometheus_client import CollectorRegistry

from schemas.errors import InvalidEventError, StoreUnavailableError
from stream_agents.batch_guard import BatchGuard, GuardMetrics, describe, is_retriable, withhold_acks


class Recorder:
    """A body that fails as told, and remembers what it processed and what was dead-lettered."""

    def __init__(self, fail) -> None:
        self.fail = fail  # (call number, events) -> exception or None
        self.calls = 0
        self.done: list[int] = []
        self.letters: list[tuple[int, str]] = []

    async def body(self, events: list[int]) -> None:
        self.calls += 1
        error = self.fail(self.calls, events)
        if error is not None:
            raise error
        self.done.extend(events)

    async def dead_letter(self, event: int, reason: str) -> None:
        self.letters.append((event, reason))


def _guard(recorder: Recorder) -> tuple[BatchGuard[int], GuardMetrics]:
    metrics = GuardMetrics(CollectorRegistry())
    return BatchGuard("replay", recorder.body, recorder.dead_letter, metrics, base_backoff_s=0.001), metrics


def _count(metrics: GuardMetrics, kind: str) -> float:
    return metrics.failures.labels("replay", kind)._value.get()


@pytest.mark.parametrize("step", range(1, 6))
def test_a_one_off_failure_at_any_call_loses_nothing(step):
    recorder = Recorder(lambda call, _events: RuntimeError("boom") if call == step else None)
    guard, _ = _guard(recorder)
    for batch in ([1, 2, 3], [4, 5], [6]):
        asyncio.run(guard.process(batch))
    assert sorted(set(recorder.done)) == [1, 2, 3, 4, 5, 6] and recorder.letters == []


def test_a_poison_event_is_dead_lettered_and_the_others_go_through():
    recorder = Recorder(lambda _call, events: ValueError("cannot take 13") if 13 in events else None)
    guard, metrics = _guard(recorder)
    asyncio.run(guard.process([11, 12, 13, 14]))
    assert recorder.done == [11, 12, 14]
    assert recorder.letters == [(13, "replay failed: ValueError: cannot take 13")]
    assert metrics.isolated.labels("replay")._value.get() == 1


def test_an_outage_is_retried_on_the_whole_batch_until_it_passes():
    outage = [redis.exceptions.ConnectionError("down"), KafkaConnectionError(), StoreUnavailableError("x")]
    recorder = Recorder(lambda call, _events: outage[call - 1] if call <= len(outage) else None)
    guard, metrics = _guard(recorder)
    asyncio.run(guard.process([1, 2]))
    assert recorder.done == [1, 2] and recorder.calls == 4 and recorder.letters == []
    assert _count(metrics, "retriable") == 3 and _count(metrics, "other") == 0


def test_cancellation_passes_through_and_withheld_acks_are_never_committed():
    async def cancelled(_events):
        raise asyncio.CancelledError

    guard = BatchGuard("sink", cancelled, Recorder(lambda *_: None).dead_letter, GuardMetrics(CollectorRegistry()))
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(guard.process([1]))
    events = [SimpleNamespace(message=SimpleNamespace(acked=False)) for _ in range(3)]
    withhold_acks(events)
    assert all(event.message.acked for event in events)  # Faust's final ack skips them: no commit


def test_retriable_is_explicit():
    assert is_retriable(KafkaConnectionError()) and is_retriable(redis.exceptions.TimeoutError())
    assert is_retriable(ConnectionResetError()) and is_retriable(StoreUnavailableError("x"))
    assert not is_retriable(MessageSizeTooLargeError()) and not is_retriable(InvalidEventError("x"))
    assert not is_retriable(RuntimeError("bug"))


def test_descriptions_carry_no_credentials_and_stay_short():
    text = describe(ConnectionError("cannot reach redis://:hunter2@cache:6379/0 " + "x" * 1000))
    assert "hunter2" not in text and "redis://***@cache" in text and len(text) < 350
