"""Reading a bounded slice of a topic, by time or by offsets, without joining a consumer group.

Used by everything that looks back at what already flowed: backfills (shadow.requests), rescoring
and reports (shadow.results). The consumer is only assigned partitions, so live consumer groups are
never disturbed and nothing is committed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from schemas.errors import ConfigError, StackError

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

__all__ = ["topic_partitions", "offsets_by_time", "read_ranges"]

OffsetRanges = dict[int, tuple[int, int]]  # partition -> [start, end)


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def topic_partitions(consumer: "Consumer", topic: str, timeout_s: float) -> list[int]:
    from confluent_kafka import KafkaException

    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    except KafkaException as exc:
        raise StackError(f"cannot read the metadata of topic {topic}: {exc}") from exc
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ConfigError(f"topic {topic!r} does not exist (check SHADOW_TOPIC_PREFIX and the cluster)")
    return sorted(metadata.partitions)


def offsets_by_time(consumer: "Consumer", topic: str, since: datetime | None, until: datetime | None,
                    timeout_s: float) -> OffsetRanges:
    """Per partition [first offset at/after `since`, first offset at/after `until`); None = the edge."""
    from confluent_kafka import TopicPartition

    ranges: OffsetRanges = {}
    for partition in topic_partitions(consumer, topic, timeout_s):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)

        def at(ts: datetime | None, edge: int) -> int:
            if ts is None:
                return edge
            # One lookup per bound: a request naming a partition twice keeps only one of them.
            found = consumer.offsets_for_times([TopicPartition(topic, partition, _ms(ts))], timeout=timeout_s)
            return high if found[0].offset < 0 else found[0].offset  # -1: nothing at or after ts

        start, end = max(at(since, low), low), at(until, high)
        if start < end:
            ranges[partition] = (start, end)
    return ranges


def read_ranges(consumer: "Consumer", topic: str, ranges: OffsetRanges, batch_size: int = 1000,
                poll_s: float = 1.0, stall_timeout_s: float | None = None) -> Iterator[list["Message"]]:
    """Batches of the records inside `ranges`; ends once every range is read.

    A range also ends when the consumer's position passes its end with no record to show for it
    (transaction markers, compacted offsets). With `stall_timeout_s`, a read that gets nothing for
    that long fails with a StackError naming the unfinished partitions.
    """
    from confluent_kafka import TopicPartition

    remaining = {p: bounds for p, bounds in ranges.items() if bounds[1] > bounds[0]}
    if not remaining:
        return
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _end) in remaining.items()])
    last_progress = time.monotonic()
    while remaining:
        messages = consumer.consume(batch_size, poll_s)
        batch = []
        for message in messages:
            if message.error() is not None:
                continue
            partition, offset = message.partition(), message.offset()
            if partition not in remaining or offset >= remaining[partition][1]:
                continue
            if offset + 1 >= remaining[partition][1]:
                del remaining[partition]
                consumer.pause([TopicPartition(topic, partition)])
            batch.append(message)
        if batch:
            last_progress = time.monotonic()
            yield batch
            continue
        for tp in consumer.position([TopicPartition(topic, p) for p in remaining]):
            if tp.offset >= 0 and tp.offset >= remaining[tp.partition][1]:
                del remaining[tp.partition]
        if remaining and stall_timeout_s is not None and time.monotonic() - last_progress > stall_timeout_s:
            raise StackError(f"reading {topic} stalled with partitions {sorted(remaining)} unfinished "
                             "(records deleted by retention, or the broker is down)")
