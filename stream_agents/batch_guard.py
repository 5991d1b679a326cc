"""Every agent's batch body runs under a BatchGuard: no exception leaves it with the batch unprocessed.

Why: Faust's `Stream.take_events` acks the buffered events in a `finally` once the batch was yielded,
also when the loop body raises (DESIGN.md). Any exception escaping a body therefore acknowledges
events nobody processed: they are never scored, never dead-lettered, lost. So the guard:

* retries a batch with back-off, forever, while its error is retriable (an outage: Redis, Kafka,
  ClickHouse, network); the stall is visible in the log and in `shadow_batch_failures_total`;
* on any other error, runs each event of the batch alone, so one poison event cannot take the
  valid ones with it; an event that still fails on its own is dead-lettered with the reason;
* lets only cancellation out (shutdown), and then the caller withholds the batch's acks
  (`withhold_acks`), so Faust's `finally` commits nothing that was not processed.

Running a body again is safe by construction: claims make replay call no challenger twice,
scoring is pure, and the sink's table is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter

from schemas.errors import ShadowOpticError
from stream_agents.retry import describe, doubling_delays

__all__ = ["BatchGuard", "GuardMetrics", "describe", "is_retriable", "withhold_acks"]

log = logging.getLogger(__name__)

E = TypeVar("E")

def is_retriable(exc: BaseException) -> bool:
    """True for outages (the same call may pass later); False for errors that repeat on the same input."""
    if isinstance(exc, ShadowOpticError):
        return exc.retriable
    try:
        from aiokafka.errors import KafkaError, KafkaTimeoutError
    except ImportError:  # pragma: no cover - aiokafka comes with faust
        KafkaError = KafkaTimeoutError = ()  # type: ignore[assignment,misc]
    if isinstance(exc, KafkaTimeoutError):
        return True  # aiokafka marks it non-retriable, but a broker that did not answer in time may later
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)  # e.g. connection errors yes, MessageSizeTooLargeError no
    import redis.exceptions

    if isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)):
        return True
    return isinstance(exc, (ConnectionError, TimeoutError, asyncio.TimeoutError))


def withhold_acks(events: Sequence[object]) -> None:
    """Keep Faust from committing these events: mark their messages acked without telling the consumer.

    Faust's final ack skips a message already marked acked, so its offset never joins the consumer's
    acked set: the committed offset stops before it and the event is delivered again after a restart
    or rebalance. Used only when a batch is abandoned unprocessed (shutdown, or a guard that failed).
    """
    for event in events:
        message = getattr(event, "message", None)
        if message is not None:
            message.acked = True


class GuardMetrics:
    """The guard's counters, in the worker's registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.failures = Counter("shadow_batch_failures", "batch bodies that raised, by stage and kind",
                                ["stage", "kind"], registry=registry)
        self.isolated = Counter("shadow_batch_isolations", "batches re-run one event at a time", ["stage"],
                                registry=registry)
        self.dead_letter_send_failures = Counter("shadow_dead_letter_send_failures",
                                                 "dead-letter sends that failed and were retried", ["stage"],
                                                 registry=registry)


class BatchGuard(Generic[E]):
    """Runs `body` on a batch until every event is processed or dead-lettered. Never raises but
    CancelledError."""

    def __init__(self, stage: str, body: Callable[[list[E]], Awaitable[None]],
                 dead_letter: Callable[[E, str], Awaitable[None]], metrics: GuardMetrics,
                 base_backoff_s: float = 0.5, max_backoff_s: float = 30.0, item_attempts: int = 3) -> None:
        self.stage = stage
        self._body = body
        self._dead_letter = dead_letter  # must itself never raise (it retries its send)
        self._metrics = metrics
        self._base_backoff_s = base_backoff_s
        self._max_backoff_s = max_backoff_s
        self._item_attempts = item_attempts

    async def process(self, events: list[E]) -> None:
        if not events:
            return
        alone = len(events) == 1
        error = await self._run(events, attempts=self._item_attempts if alone else 1)
        if error is None:
            return
        if alone:
            await self._dead_letter(events[0], f"{self.stage} failed: {describe(error)}")
            return
        # One event may be poison: run each alone so that the others still go through.
        self._metrics.isolated.labels(self.stage).inc()
        log.error("%s: a batch of %d failed (%s); processing its events one by one", self.stage, len(events),
                  describe(error))
        for event in events:
            await self.process([event])

    async def _run(self, events: list[E], attempts: int) -> Exception | None:
        """None once the body passed; the error once a non-retriable one happened `attempts` times.

        Retriable errors are retried with back-off for as long as they last: dropping data because
        a dependency is down would be worse than a visible stall.
        """
        tries = 0
        for backoff in doubling_delays(self._base_backoff_s, self._max_backoff_s):
            try:
                await self._body(events)
                return None
            except Exception as exc:  # CancelledError is a BaseException: shutdown passes through
                retriable = is_retriable(exc)
                tries += 0 if retriable else 1
                self._metrics.failures.labels(self.stage, "retriable" if retriable else "other").inc()
                if not retriable and tries >= attempts:
                    return exc
                log.error("%s: a batch of %d failed (%s; retry in %.1fs): %s", self.stage, len(events),
                          "retriable" if retriable else f"attempt {tries} of {attempts}", backoff, describe(exc))
                await asyncio.sleep(backoff)
        raise AssertionError("doubling_delays never ends")
