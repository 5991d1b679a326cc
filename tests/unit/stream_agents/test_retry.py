import asyncio
import itertools
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from stream_agents import retry
from stream_agents.retry import backoff_delay, doubling_delays, parse_retry_after, retry_forever


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


def test_delays_double_up_to_the_cap():
    assert list(itertools.islice(doubling_delays(0.5, 3.0), 5)) == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_retry_forever_waits_out_the_outage_and_lets_other_errors_through(monkeypatch):
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(retry.asyncio, "sleep", no_wait)
    outcomes = [ConnectionError("down"), ConnectionError("down"), ConnectionError("down"), "ok"]
    seen: list[BaseException] = []

    async def action() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert await retry_forever(action, "the call", retry_on=ConnectionError, first_s=0.2, cap_s=0.5,
                               on_failure=seen.append) == "ok"
    assert slept == [0.2, 0.4, 0.5] and len(seen) == 3

    async def wrong() -> None:
        raise ValueError("not an outage")

    with pytest.raises(ValueError):
        await retry_forever(wrong, "the call", retry_on=ConnectionError)
    assert len(slept) == 3


async def test_retry_forever_logs_what_failed_without_credentials(monkeypatch, caplog):
    real_sleep = asyncio.sleep
    monkeypatch.setattr(retry.asyncio, "sleep", lambda _s: real_sleep(0))
    calls = [0]

    async def action() -> None:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("cannot reach http://user:secret@db:8123/")

    await retry_forever(action, lambda: f"insert number {calls[0]}")
    assert "insert number 1 failed" in caplog.text and "secret" not in caplog.text
