"""Rescore without paying twice: read shadow.results again and write rows under the current scorer version.

Its own consumer with assign() (no group membership: it never joins or disturbs the worker's group and
commits nothing). Reads each partition from the first offset at/after `since` (Kafka timestamps) up to
the end offset seen at start, or the first message at/after `until`. Rows are keyed (challenger,
scorer_version, event_id) in a ReplacingMergeTree, so running it twice writes each row once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from schemas.clickhouse import SCORES_TABLE, connect, migrate
from schemas.errors import ConfigError, InvalidEventError
from schemas.events import ScoredRecord, ShadowResult
from schemas.settings import Settings
from stream_agents.decoding import decode
from stream_agents.scoring.scorer import Scorer
from stream_agents.sink import SCORE_COLUMNS, records_to_columns

__all__ = ["RescoreReport", "rescore"]

log = logging.getLogger(__name__)


class RescoreReport(BaseModel):
    scorer_version: str
    read: int = 0
    written: int = 0
    invalid: int = 0
    failed: int = 0
    partitions: int = 0


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def _ranges(consumer, topic: str, since: datetime | None, until: datetime | None,
            timeout_s: float) -> dict[int, tuple[int, int]]:
    """partition -> [start, end) offsets."""
    from confluent_kafka import TopicPartition

    metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ConfigError(f"topic {topic!r} not found: nothing to rescore (check SHADOW_TOPIC_PREFIX)")
    ranges: dict[int, tuple[int, int]] = {}
    for p in sorted(metadata.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
        start, end = low, high

        def at(ts: datetime, default: int) -> int:
            found = consumer.offsets_for_times([TopicPartition(topic, p, _ms(ts))], timeout=timeout_s)[0].offset
            return default if found < 0 else found  # -1: no message at/after ts

        if since is not None:
            start = at(since, high)
        if until is not None:
            end = at(until, high)
        if start < end:
            ranges[p] = (start, end)
    return ranges


def rescore(settings: Settings, since: datetime | None = None, until: datetime | None = None,
            batch_size: int = 500, progress: Callable[[RescoreReport], None] | None = None,
            timeout_s: float = 30.0) -> RescoreReport:
    """Score every result in the range with the Scorer that Settings configure; insert into ClickHouse."""
    if not (settings.kafka_bootstrap and settings.clickhouse_url):
        raise ConfigError("rescore needs SHADOW_KAFKA_BOOTSTRAP and SHADOW_CLICKHOUSE_URL "
                          "(or a running `shadow-optic stack up`)")
    return asyncio.run(_rescore(settings, since, until, batch_size, progress, timeout_s))


async def _rescore(settings: Settings, since, until, batch_size, progress, timeout_s) -> RescoreReport:
    from confluent_kafka import Consumer, TopicPartition

    topic = settings.topics.results
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"shadow-optic-rescore-{uuid.uuid4().hex[:8]}",  # required, never joined
                         "enable.auto.commit": False, "enable.partition.eof": False,
                         "fetch.max.bytes": 16 * 1024 * 1024})
    client = connect(settings.clickhouse_url)
    try:
        migrate(client)  # the new columns must exist before rows carrying them arrive
        ranges = _ranges(consumer, topic, since, until, timeout_s)
        async with Scorer(settings) as scorer:
            report = RescoreReport(scorer_version=scorer.version, partitions=len(ranges))
            if not ranges:
                return report
            consumer.assign([TopicPartition(topic, p, start) for p, (start, _end) in ranges.items()])
            remaining = dict(ranges)
            pending: list[ShadowResult] = []
            while remaining:
                messages = await asyncio.to_thread(consumer.consume, batch_size, 1.0)
                if not messages:  # offsets with no message (control records, compaction) end a range too
                    for tp in consumer.position([TopicPartition(topic, p) for p in remaining]):
                        if tp.offset >= 0 and tp.offset >= remaining[tp.partition][1]:
                            del remaining[tp.partition]
                for message in messages:
                    if message.error() is not None:
                        continue
                    p = message.partition()
                    if p not in remaining or message.offset() >= remaining[p][1]:
                        continue
                    if message.offset() + 1 >= remaining[p][1]:
                        del remaining[p]
                        consumer.pause([TopicPartition(topic, p)])
                    report.read += 1
                    try:
                        pending.append(decode(message.value(), ShadowResult, settings.max_event_bytes))
                    except InvalidEventError as exc:
                        report.invalid += 1
                        log.warning("rescore: %s[%d]@%d skipped: %s", topic, p, message.offset(), exc)
                if len(pending) >= batch_size or (not remaining and pending):
                    await _write(scorer, settings, client, pending, report)
                    pending = []
                    if progress:
                        progress(report)
            return report
    finally:
        consumer.close()
        client.close()


async def _write(scorer: Scorer, settings: Settings, client, results: list[ShadowResult],
                 report: RescoreReport) -> None:
    prices = [settings.price_of(r.event.production_model) for r in results]
    scored = await scorer.score_batch(results, prices)
    records: list[ScoredRecord] = []
    for result, record in zip(results, scored):
        if isinstance(record, Exception):
            report.failed += 1
            log.error("rescore: %s/%s failed: %r", result.event.event_id, result.challenger, record)
        else:
            records.append(record)
    if records:
        await asyncio.to_thread(client.insert, SCORES_TABLE, records_to_columns(records),
                                column_names=SCORE_COLUMNS, column_oriented=True)
        report.written += len(records)
