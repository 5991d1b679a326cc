"""Is the scored window stale? Consumer lag of the pipeline group, read directly from Kafka.

A stand-in until the operations lag monitor exists: `LagCheck` is any callable Settings -> LagStatus,
so that module can replace `kafka_lag` without touching the promotion engine.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from schemas.settings import Settings

__all__ = ["LagStatus", "LagCheck", "kafka_lag", "stale_reason"]


class LagStatus(BaseModel):
    group: str
    topics: list[str]
    lag_messages: int | None  # None: could not be read
    per_partition: dict[str, int] = {}
    error: str | None = None


LagCheck = Callable[[Settings], LagStatus]


def kafka_lag(settings: Settings, timeout_s: float = 10.0) -> LagStatus:
    """Σ(end offset − committed offset) of the pipeline group over the topics whose rows feed the window."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient, OffsetSpec

    topics = [settings.topics.requests, settings.topics.results, settings.topics.scored]
    group = settings.consumer_group
    if not settings.kafka_bootstrap:
        return LagStatus(group=group, topics=topics, lag_messages=None, error="no Kafka bootstrap configured")
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
        partitions = [TopicPartition(t, p) for t in topics if t in metadata.topics
                      for p in metadata.topics[t].partitions]
        if not partitions:
            return LagStatus(group=group, topics=topics, lag_messages=0)
        committed_future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)])
        committed = {(tp.topic, tp.partition): tp.offset
                     for tp in committed_future[group].result(timeout=timeout_s).topic_partitions}
        ends = admin.list_offsets({tp: OffsetSpec.latest() for tp in partitions}, request_timeout=timeout_s)
        per_partition = {}
        for tp, future in ends.items():
            end = future.result(timeout=timeout_s).offset
            done = committed.get((tp.topic, tp.partition), -1)
            # A partition the group never committed counts from 0: everything in it is unprocessed.
            per_partition[f"{tp.topic}[{tp.partition}]"] = max(0, end - max(done, 0))
        return LagStatus(group=group, topics=topics, lag_messages=sum(per_partition.values()),
                         per_partition=per_partition)
    except Exception as exc:  # the broker may be down: say so, the verdict becomes "stale"
        return LagStatus(group=group, topics=topics, lag_messages=None, error=str(exc))


def stale_reason(status: LagStatus | None, max_lag: int) -> str | None:
    """Why a verdict must wait, or None when the window is fresh (or lag is not checked)."""
    if status is None:
        return None
    if status.lag_messages is None:
        return f"consumer lag of group {status.group} unknown ({status.error}); the window may be stale"
    if status.lag_messages > max_lag:
        return (f"consumer group {status.group} is {status.lag_messages} messages behind (max {max_lag}): "
                f"the window is stale until it catches up")
    return None
