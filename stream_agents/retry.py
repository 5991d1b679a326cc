"""Retrying: full-jitter back-off for calls to challengers, `retry_forever` for the dependencies a
stage cannot go on without (Redis, ClickHouse, Kafka, the embeddings endpoint), Retry-After parsing.

`retry_forever` is the one loop that waits out an outage: delays double from `first_s` to `cap_s`
(`doubling_delays`), each failure is logged with what was being done, and anything that is not a
`retry_on` error, or a cancellation (shutdown), passes through.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

__all__ = ["backoff_delay", "describe", "doubling_delays", "parse_retry_after", "retry_forever", "RETRIED_STATUSES"]

log = logging.getLogger(__name__)

_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]*@")  # user:password@ in any URL an error message quotes

T = TypeVar("T")

# 408/425/429 and 5xx may pass on retry; other 4xx say our request is wrong and never will.
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff_delay(attempt: int, rng: random.Random, base_s: float = 0.1, cap_s: float = 5.0) -> float:
    """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)].

    Spreads the retries of many workers over the window instead of synchronising them into waves.
    """
    return rng.uniform(0.0, min(cap_s, base_s * 2 ** max(0, attempt)))


def doubling_delays(first_s: float, cap_s: float) -> Iterator[float]:
    """first_s, 2 first_s, 4 first_s, ... up to cap_s, for ever."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2, cap_s)


async def retry_forever(action: Callable[[], Awaitable[T]], what: str | Callable[[], str], *,
                        retry_on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
                        first_s: float = 0.5, cap_s: float = 30.0,
                        on_failure: Callable[[BaseException], None] | None = None,
                        logger: logging.Logger = log) -> T:
    """`await action()` until it returns; after a `retry_on` error: `on_failure(error)`, a log line
    naming `what` (a callable is called then, to say how things stand), and the next delay."""
    for delay in doubling_delays(first_s, cap_s):
        try:
            return await action()
        except retry_on as exc:
            if on_failure is not None:
                on_failure(exc)
            logger.error("%s failed (retry in %.1fs): %s", what() if callable(what) else what, delay,
                         describe(exc))
            await asyncio.sleep(delay)
    raise AssertionError("doubling_delays never ends")


def describe(exc: BaseException, limit: int = 300) -> str:
    """Type and message of an error for a log line or a dead letter: no credentials, bounded length."""
    text = _CREDENTIALS.sub("***@", str(exc))
    return f"{type(exc).__name__}: {text[:limit]}{'…' if len(text) > limit else ''}"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
