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

from infra.clickhouse import connect
from infra.kafka_clients import kafka_config
from infra.topic_ranges import offsets_by_time, read_ranges
from schemas.clickhouse import SCORES_TABLE, migrate
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


def rescore(settings: Settings, since: datetime | None = None, until: datetime | None = None,
            batch_size: int = 500, progress: Callable[[RescoreReport], None] | None = None,
            timeout_s: float = 30.0) -> RescoreReport:
    """Score every result in the range with the Scorer that Settings configure; insert into ClickHouse."""
    if not (settings.kafka_bootstrap and settings.clickhouse_url):
        raise ConfigError("rescore needs SHADOW_KAFKA_BOOTSTRAP and SHADOW_CLICKHOUSE_URL "
                          "(or a running `shadow-optic stack up`)")
    return asyncio.run(_rescore(settings, since, until, batch_size, progress, timeout_s))


async def _rescore(settings: Settings, since, until, batch_size, progress, timeout_s) -> RescoreReport:
    from confluent_kafka import Consumer

    topic = settings.topics.results
    consumer = Consumer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {
        "group.id": f"shadow-optic-rescore-{uuid.uuid4().hex[:8]}",  # required, never joined
        "enable.auto.commit": False, "enable.partition.eof": False, "fetch.max.bytes": 16 * 1024 * 1024}))
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        migrate(client, settings.clickhouse_cluster)  # the new columns must exist before rows carrying them arrive
        ranges = offsets_by_time(consumer, topic, since, until, timeout_s)
        async with Scorer(settings.scoring, settings.connections) as scorer:
            report = RescoreReport(scorer_version=scorer.version, partitions=len(ranges))
            batches = read_ranges(consumer, topic, ranges, batch_size)
            pending: list[ShadowResult] = []
            while (messages := await asyncio.to_thread(next, batches, None)) is not None:
                for message in messages:
                    report.read += 1
                    try:
                        pending.append(decode(message.value(), ShadowResult, settings.max_event_bytes))
                    except InvalidEventError as exc:
                        report.invalid += 1
                        log.warning("rescore: %s[%d]@%d skipped: %s", topic, message.partition(),
                                    message.offset(), exc)
                if len(pending) >= batch_size:
                    await _write(scorer, settings, client, pending, report)
                    pending = []
                    if progress:
                        progress(report)
            if pending:
                await _write(scorer, settings, client, pending, report)
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
