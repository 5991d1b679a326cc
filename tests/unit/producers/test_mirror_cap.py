"""The hard cap on mirrored events per second and the capture thread's bounded queue."""

from __future__ import annotations

import threading

import pytest

from producers.capture_queue import CaptureQueue
from producers.mirror import CaptureConfig, CaptureOutcome, Mirror
from producers.mirror_cap import MirrorCap
from schemas.errors import ConfigError
from tests.unit.producers.test_mirror import Sink, answer, chat


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class MemoryLeases:
    """What RedisCapLeases does (INCRBY per route and second), in memory, shared by several caps."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.calls = 0
        self.down = False

    def lease(self, route: str, second: int, cap: int, want: int) -> int:
        if self.down:
            raise ConnectionError("redis is down")
        self.calls += 1
        total = self.counts[(route, second)] = self.counts.get((route, second), 0) + want
        return max(0, min(want, cap - (total - want)))


def test_local_cap_per_route_and_second() -> None:
    clock = Clock()
    cap = MirrorCap(3, {"/v1/embeddings": 1}, clock=clock)
    assert [cap.admit("/v1/chat/completions") for _ in range(5)] == [True, True, True, False, False]
    assert [cap.admit("/v1/embeddings") for _ in range(2)] == [True, False]
    clock.now += 1.0  # a new second: a fresh window
    assert [cap.admit("/v1/chat/completions") for _ in range(4)] == [True, True, True, False]
    assert MirrorCap(None).admit("/any")  # no cap configured


def test_a_route_cap_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="a cap is above 0"):
        MirrorCap(None, {"/v1/chat/completions": 0})


def test_shared_cap_holds_across_gateways_with_few_round_trips() -> None:
    clock, leases = Clock(), MemoryLeases()
    gateways = [MirrorCap(100, shared=leases, clock=clock) for _ in range(3)]
    admitted = sum(g.admit("/r") for _ in range(80) for g in gateways)  # 240 offered in one second
    assert admitted == 100
    assert leases.calls <= 100 // 5 + 3 * 2  # leases of 5 events (100/20), not one call per event
    clock.now += 1.0
    assert sum(g.admit("/r") for _ in range(10) for g in gateways) == 30


def test_shared_cap_falls_back_to_a_local_cap_when_the_store_fails() -> None:
    clock, leases = Clock(), MemoryLeases()
    cap = MirrorCap(4, shared=leases, clock=clock)
    leases.down = True
    assert [cap.admit("/r") for _ in range(6)] == [True] * 4 + [False] * 2
    assert cap.shared_errors == 1  # then local for a while: no round trip per event
    leases.down = False
    clock.now += MirrorCap.LOCAL_AFTER_ERROR_S + 1
    assert sum(cap.admit("/r") for _ in range(6)) == 4 and leases.calls >= 1


def test_capped_events_are_counted_by_route_and_never_published() -> None:
    sink, clock = Sink(), Clock()
    mirror = Mirror(CaptureConfig(max_events_per_s=2), sink)
    mirror.cap = MirrorCap(2, clock=clock)
    outcomes = [mirror.capture(chat(f"q{i}"), answer("a"), route="/v1/chat/completions").outcome for i in range(5)]
    assert outcomes == [CaptureOutcome.PUBLISHED] * 2 + [CaptureOutcome.CAPPED] * 3
    assert len(sink.events) == 2
    snapshot = mirror.counters.snapshot()
    assert snapshot["capped"] == {"/v1/chat/completions": 3} and snapshot["outcomes"]["capped"] == 3


def test_capture_queue_runs_captures_off_the_caller_and_drops_when_full() -> None:
    release, entered = threading.Event(), threading.Event()

    class SlowSink(Sink):
        def publish(self, event):
            entered.set()
            release.wait(10)
            return super().publish(event)

    sink = SlowSink()
    mirror = Mirror(CaptureConfig(), sink)
    queue = CaptureQueue(mirror, maxsize=3)
    queue.start()
    try:
        # The thread holds the first exchange (blocked in publish); 3 more fill the queue; the rest drop.
        accepted = [queue.submit(chat("q0"), answer("a"), route="/v1/chat/completions")]
        assert entered.wait(10)
        accepted += [queue.submit(chat(f"q{i}"), answer("a"), route="/v1/chat/completions") for i in range(1, 8)]
        assert accepted == [True] * 4 + [False] * 4
        assert mirror.counters.snapshot()["outcomes"]["queue_full"] == 4
        assert queue.depth() <= 3  # bounded
        release.set()
        assert queue.wait_idle(10)
        assert [e.request.messages[0].content for e in sink.events] == \
            [f"q{i}" for i, ok in enumerate(accepted) if ok]  # in order, each once
    finally:
        release.set()
        queue.close()
