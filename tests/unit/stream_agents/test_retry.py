import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from stream_agents.retry import backoff_delay, parse_retry_after


def test_full_jitter_stays_within_the_growing_window_and_the_cap():
    rng = random.Random(0)
    for attempt in range(8):
        window = min(5.0, 0.1 * 2 ** attempt)
        delays = [backoff_delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= window for d in delays)
        assert max(delays) > window * 0.8  # spread over the window, not synchronised
        assert min(delays) < window * 0.2


def test_retry_after_in_seconds_and_as_an_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-4") == 0.0
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0


def test_unreadable_retry_after_is_ignored():
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
