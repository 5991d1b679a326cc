"""A circuit breaker per challenger: closed -> open -> half-open -> closed.

Per worker process, like Hystrix/resilience4j: each worker sees its own calls fail and stops
sending at once, without a Redis round trip on the hot path. Pure logic with an injectable clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `open_s`, lets `half_open_probes`
    calls through; one success closes it, one failure opens it again (for `open_s` once more)."""

    def __init__(self, failure_threshold: int = 5, open_s: float = 5.0, half_open_probes: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self.half_open_probes = half_open_probes
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probes_out = 0
        self.opened_count = 0  # how many times it opened: a metric and a test hook

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.open_s:
            self._state = BreakerState.HALF_OPEN
            self._probes_out = 0
        return self._state

    def allow(self) -> bool:
        """True if a call may go out now; a half-open breaker hands out its probes one by one."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and self._probes_out < self.half_open_probes:
            self._probes_out += 1
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._state = BreakerState.CLOSED
            self._probes_out = 0

    def record_failure(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._open()

    def release_probe(self) -> None:
        """A probe that ended without a verdict (e.g. skipped by the limiter) gives its slot back."""
        if self._state is BreakerState.HALF_OPEN and self._probes_out > 0:
            self._probes_out -= 1

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0
        self._probes_out = 0
        self.opened_count += 1
