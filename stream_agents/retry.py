"""Retry arithmetic, pure: full-jitter back-off and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["backoff_delay", "parse_retry_after", "RETRIED_STATUSES"]

# 408/425/429 and 5xx may pass on retry; other 4xx say our request is wrong and never will.
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def backoff_delay(attempt: int, rng: random.Random, base_s: float = 0.1, cap_s: float = 5.0) -> float:
    """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)].

    Spreads the retries of many workers over the window instead of synchronising them into waves.
    """
    return rng.uniform(0.0, min(cap_s, base_s * 2 ** max(0, attempt)))


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
