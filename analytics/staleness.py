"""Is the scored window stale? The lag monitor's figures (analytics/lag.py) for the pipeline's group.

One code path: `kafka_lag` asks `LagMonitor.describe` for the pipeline's consumer group over the
topics whose rows feed the window (requests, results, scored), and `lag_status` turns that reading
into the two figures a verdict waits on:

- messages behind: Σ(end − committed) per partition; a partition the group never committed counts
  from 0 (everything in it is unprocessed), where Kafka's tool prints '-';
- seconds behind: the age of the oldest record the group has not consumed (the monitor's
  `lag_seconds`), which stays meaningful when traffic is bursty and a message count does not.

`stale_reason` gives no verdict ("stale") when either is above SHADOW_PROMOTION_MAX_LAG_MESSAGES or
SHADOW_PROMOTION_MAX_LAG_SECONDS, or when lag could not be read. The dashboard and `GET /status`
read the same monitor (`summarize_lag`), so what they show is what the verdicts used.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from analytics.lag import GroupLag
from schemas.settings import Settings

__all__ = ["LagStatus", "LagCheck", "pipeline_topics", "lag_status", "kafka_lag", "stale_reason"]


class LagStatus(BaseModel):
    group: str
    topics: list[str]
    lag_messages: int | None  # None: could not be read
    lag_seconds: float | None = None  # age of the oldest unconsumed record; None: unknown
    per_partition: dict[str, int] = {}
    error: str | None = None


LagCheck = Callable[[Settings], LagStatus]


def pipeline_topics(settings: Settings) -> list[str]:
    """The topics whose consumption feeds the scored window."""
    return [settings.topics.requests, settings.topics.results, settings.topics.scored]


def lag_status(settings: Settings, lag: GroupLag) -> LagStatus:
    """The staleness figures of a lag monitor reading, over the pipeline's topics only."""
    topics = pipeline_topics(settings)
    partitions = [p for p in lag.partitions if p.topic in topics]
    per_partition = {f"{p.topic}[{p.partition}]": p.end_offset if p.lag is None else p.lag for p in partitions}
    seconds = [p.lag_seconds for p in partitions if p.lag_seconds is not None]
    return LagStatus(group=lag.group, topics=topics, lag_messages=sum(per_partition.values()),
                     lag_seconds=max(seconds, default=0.0), per_partition=per_partition)


def kafka_lag(settings: Settings, timeout_s: float = 10.0) -> LagStatus:
    """The pipeline group's lag, read with the lag monitor (a short-lived one: AdminClient + probe)."""
    from analytics.lag import LagMonitor

    topics, group = pipeline_topics(settings), settings.consumer_group
    if not settings.kafka_bootstrap:
        return LagStatus(group=group, topics=topics, lag_messages=None, error="no Kafka bootstrap configured")
    try:
        with LagMonitor(settings.kafka_bootstrap, timeout_s=timeout_s, security=settings.kafka_security) as monitor:
            return lag_status(settings, monitor.describe(group, topics=topics))
    except Exception as exc:  # the broker may be down: say so, the verdict becomes "stale"
        return LagStatus(group=group, topics=topics, lag_messages=None, error=str(exc))


def stale_reason(status: LagStatus | None, settings: Settings) -> str | None:
    """Why a verdict must wait, or None when the window is fresh (or lag is not checked)."""
    if status is None:
        return None
    if status.lag_messages is None:
        return f"consumer lag of group {status.group} unknown ({status.error}); the window may be stale"
    max_messages, max_seconds = settings.promotion_max_lag_messages, settings.promotion_max_lag_seconds
    behind = []
    if status.lag_messages > max_messages:
        behind.append(f"{status.lag_messages} messages behind (max {max_messages})")
    if status.lag_seconds is not None and status.lag_seconds > max_seconds:
        behind.append(f"{status.lag_seconds:.0f} s behind: its oldest unconsumed event is that old "
                      f"(max {max_seconds:g} s)")
    if behind:
        return f"consumer group {status.group} is {' and '.join(behind)}: the window is stale until it catches up"
    return None
