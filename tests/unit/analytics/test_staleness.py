"""Staleness from the lag monitor's figures: messages and seconds, over the pipeline's topics."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.lag import GroupLag, PartitionLag
from analytics.staleness import LagStatus, lag_status, stale_reason
from schemas.settings import Settings

SETTINGS = Settings(topic_prefix="p.", consumer_group="g", promotion_max_lag_messages=100,
                    promotion_max_lag_seconds=60)


def _lag(*partitions: PartitionLag) -> GroupLag:
    return GroupLag(group="g", state="STABLE", checked_at=datetime.now(UTC), partitions=list(partitions))


def _p(topic: str, partition: int, committed: int | None, end: int, seconds: float | None) -> PartitionLag:
    lag = None if committed is None else end - committed
    return PartitionLag(topic=topic, partition=partition, committed_offset=committed, end_offset=end, lag=lag,
                        lag_seconds=seconds)


def test_a_few_old_messages_make_the_window_stale():
    status = lag_status(SETTINGS, _lag(_p("p.shadow.requests", 0, 10, 15, 900.0)))
    assert (status.lag_messages, status.lag_seconds) == (5, 900.0)
    reason = stale_reason(status, SETTINGS)
    assert reason and "900 s behind" in reason and "messages" not in reason


def test_many_fresh_messages_make_the_window_stale():
    status = lag_status(SETTINGS, _lag(_p("p.shadow.scored", 1, 0, 500, 2.0)))
    reason = stale_reason(status, SETTINGS)
    assert reason and "500 messages behind (max 100)" in reason


def test_only_the_pipeline_topics_count_and_an_uncommitted_partition_counts_from_zero():
    status = lag_status(SETTINGS, _lag(_p("p.shadow.requests", 0, 5, 5, 0.0), _p("p.shadow.results", 3, None, 40, None),
                                       _p("other", 0, 0, 10_000, 10_000.0)))
    assert status.lag_messages == 40 and status.lag_seconds == 0.0
    assert status.per_partition == {"p.shadow.requests[0]": 0, "p.shadow.results[3]": 0 + 40}
    assert stale_reason(status, SETTINGS) is None  # 40 messages, none old: fresh


def test_unknown_lag_is_stale_and_no_check_is_not():
    assert "unknown" in stale_reason(LagStatus(group="g", topics=[], lag_messages=None, error="down"), SETTINGS)
    assert stale_reason(None, SETTINGS) is None
