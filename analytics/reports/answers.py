"""Both answers of chosen (event, challenger) pairs, read back from shadow.results.

ClickHouse keeps the scores, not the texts: the answers live in shadow.results (a ShadowResult embeds
the InferenceEvent, hence the production answer, beside the challenger's). The sink does not record
Kafka offsets, so the reader bounds the scan by time instead: a result is produced after its event's
ts_request and before its row's ts_scored, so offsets_for_times(min ts_request) .. offsets_for_times(max
ts_scored) holds every wanted result (a backfill's results too: their ts_scored is the backfill's time).
The consumer uses assign() without joining a group and commits nothing, so the pipeline's groups are not
disturbed; keys (= event ids) are checked before any JSON is parsed.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel, ValidationError

from schemas.errors import ConfigError, StackError
from schemas.events import ShadowResult

__all__ = ["AnswerScan", "fetch_answers"]

log = logging.getLogger(__name__)
_SLACK = timedelta(minutes=2)  # producer/broker clock skew


class AnswerScan(BaseModel):
    wanted: int
    found: int
    scanned: int  # messages read
    invalid: int = 0


def fetch_answers(bootstrap: str, topic: str, wanted: set[tuple[str, str]], since: datetime, until: datetime,
                  timeout_s: float = 60.0) -> tuple[dict[tuple[str, str], ShadowResult], AnswerScan]:
    """(event_id, challenger) -> ShadowResult for every wanted pair still on the topic (retention may drop some)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    found: dict[tuple[str, str], ShadowResult] = {}
    scan = AnswerScan(wanted=len(wanted), found=0, scanned=0)
    if not wanted:
        return found, scan
    event_ids = {e.encode() for e, _ in wanted}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"shadow-optic-report-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "enable.partition.eof": False, "log_level": 3,
                         "fetch.max.bytes": 16 * 1024 * 1024})
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=15).topics.get(topic)
        except KafkaException as exc:
            raise StackError(f"cannot read topic {topic} from Kafka at {bootstrap}: {exc}") from exc
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ConfigError(f"topic {topic!r} not found: no answers to read (check SHADOW_TOPIC_PREFIX)")
        ranges = _ranges(consumer, topic, sorted(metadata.partitions), since - _SLACK, until + _SLACK)
        if not ranges:
            return found, scan
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _end) in ranges.items()])
        remaining = dict(ranges)
        deadline = time.monotonic() + timeout_s
        while remaining and len(found) < len(wanted):
            if time.monotonic() > deadline:
                raise StackError(f"reading {topic} took longer than {timeout_s:.0f}s; "
                                 f"found {len(found)} of {len(wanted)} answers")
            messages = consumer.consume(1000, 1.0)
            if not messages:  # offsets with no message (transaction markers) end a range too
                for tp in consumer.position([TopicPartition(topic, p) for p in remaining]):
                    if tp.offset >= 0 and tp.offset >= remaining[tp.partition][1]:
                        del remaining[tp.partition]
            for message in messages:
                if message.error() is not None:
                    continue
                p, offset = message.partition(), message.offset()
                if p not in remaining or offset >= remaining[p][1]:
                    continue
                if offset + 1 >= remaining[p][1]:
                    del remaining[p]
                    consumer.pause([TopicPartition(topic, p)])
                scan.scanned += 1
                if message.key() not in event_ids:
                    continue
                try:
                    result = ShadowResult.model_validate_json(message.value())
                except ValidationError as exc:
                    scan.invalid += 1
                    log.warning("%s[%d]@%d is not a ShadowResult: %s", topic, p, offset, exc.errors()[:1])
                    continue
                key = (result.event.event_id, result.challenger)
                if key in wanted:
                    found[key] = result  # a later copy (retry, rescore input) says the same
    finally:
        consumer.close()
    scan.found = len(found)
    return found, scan


def _ranges(consumer, topic: str, partitions: list[int], since: datetime,  # noqa: ANN001 - confluent Consumer
            until: datetime) -> dict[int, tuple[int, int]]:
    from confluent_kafka import TopicPartition

    ranges = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)

        def at(ts: datetime) -> int:
            found = consumer.offsets_for_times([TopicPartition(topic, p, int(ts.timestamp() * 1000))], timeout=15)
            return high if found[0].offset < 0 else found[0].offset  # -1: nothing at or after ts

        start, end = max(at(since), low), at(until)
        if start < end:
            ranges[p] = (start, end)
    return ranges
