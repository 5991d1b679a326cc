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

from infra.kafka_clients import kafka_config
from infra.topic_ranges import offsets_by_time, read_ranges
from schemas.errors import StackError
from schemas.events import ShadowResult
from schemas.security import KafkaSecurity

__all__ = ["AnswerScan", "fetch_answers"]

log = logging.getLogger(__name__)
_SLACK = timedelta(minutes=2)  # producer/broker clock skew


class AnswerScan(BaseModel):
    wanted: int
    found: int
    scanned: int  # messages read
    invalid: int = 0


def fetch_answers(bootstrap: str, topic: str, wanted: set[tuple[str, str]], since: datetime, until: datetime,
                  timeout_s: float = 60.0, security: KafkaSecurity | None = None) -> tuple[dict[tuple[str, str], ShadowResult], AnswerScan]:
    """(event_id, challenger) -> ShadowResult for every wanted pair still on the topic (retention may drop some)."""
    from confluent_kafka import Consumer

    found: dict[tuple[str, str], ShadowResult] = {}
    scan = AnswerScan(wanted=len(wanted), found=0, scanned=0)
    if not wanted:
        return found, scan
    event_ids = {e.encode() for e, _ in wanted}
    consumer = Consumer(kafka_config(bootstrap, security, {
        "group.id": f"shadow-optic-report-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
        "enable.partition.eof": False, "log_level": 3, "fetch.max.bytes": 16 * 1024 * 1024}))
    try:
        ranges = offsets_by_time(consumer, topic, since - _SLACK, until + _SLACK, timeout_s=15)
        deadline = time.monotonic() + timeout_s
        for messages in read_ranges(consumer, topic, ranges):
            if time.monotonic() > deadline:
                raise StackError(f"reading {topic} took longer than {timeout_s:.0f}s; "
                                 f"found {len(found)} of {len(wanted)} answers")
            for message in messages:
                scan.scanned += 1
                if message.key() not in event_ids:
                    continue
                try:
                    result = ShadowResult.model_validate_json(message.value())
                except ValidationError as exc:
                    scan.invalid += 1
                    log.warning("%s[%d]@%d is not a ShadowResult: %s", topic, message.partition(),
                                message.offset(), exc.errors()[:1])
                    continue
                key = (result.event.event_id, result.challenger)
                if key in wanted:
                    found[key] = result  # a later copy (retry, rescore input) says the same
            if len(found) >= len(wanted):
                break
    finally:
        consumer.close()
    scan.found = len(found)
    return found, scan

