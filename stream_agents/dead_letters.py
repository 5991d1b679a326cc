"""Reading and re-driving the dead-letter topic (the `shadow-optic dlq` command's engine).

list: every letter from the beginning, with a throwaway consumer group (commits nothing).
redrive: letters after the redrive cursor (consumer group `<group>-dlq-redrive`) are re-published,
original key and bytes, to the topic they came from; the cursor is committed only after Kafka has
them, so a redrive interrupted half-way is resumed, not repeated. A letter whose bytes still do not
validate is reported and left out unless forced: it would only come back.

fit_dead_letter: what the worker sends. A letter must always fit the DLQ topic, or the send fails and
the message is neither processed nor dead-lettered. Base64 makes the original 4/3 larger, so a
near-limit message cannot travel whole: such a letter keeps a prefix, the size, the sha256 and the
origin (topic, partition, offset), and `redrive` fetches the original bytes from there.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from pydantic import BaseModel, ValidationError

from infra.kafka_clients import kafka_config
from schemas.dead_letter import DeadLetter
from schemas.errors import InvalidEventError, StackError
from schemas.events import InferenceEvent, ScoredRecord, ShadowResult
from schemas.settings import Settings
from stream_agents.decoding import decode

__all__ = ["BoundedDeadLetter", "LetterAt", "RedriveReport", "fit_dead_letter", "read_letters", "redrive_letters"]

_STAGE_MODEL: dict[str, type[BaseModel]] = {"replay": InferenceEvent, "scoring": ShadowResult,
                                             "sink": ScoredRecord}


class BoundedDeadLetter(DeadLetter):
    """A DeadLetter that says whether it holds the whole original value (readers of v1 ignore the extras)."""

    schema_version: int = 2
    value_bytes: int = 0  # size of the original value
    value_sha256: str = ""  # of the original value: checks a copy fetched from the origin
    truncated: bool = False  # value_b64 holds only a prefix; the original is at topic/partition/offset


# Kept whole in a truncated letter only when small: a key is for routing, not a payload.
_KEY_MAX_BYTES = 1024


def _record_bytes(key: bytes | None, value: bytes) -> int:
    """The size the producer checks against its max_request_size (aiokafka's own upper bound)."""
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])


def fit_dead_letter(*, stage: str, reason: str, topic: str, partition: int, offset: int, key: bytes | None,
                    value: bytes | None, max_bytes: int, ts: datetime | None = None) -> tuple[bytes | None, bytes]:
    """(key, value) of the DLQ message for one failed message, at most `max_bytes` as Kafka counts it.

    The original travels whole when it fits, base64 and envelope included; otherwise a prefix that
    fills the rest, with the size and sha256 of the whole and its origin, so it can be fetched.
    """
    value = value or b""
    reason = reason[:max(200, max_bytes // 8)]  # an error text is never allowed to crowd out the data
    common = dict(stage=stage, topic=topic, partition=partition, offset=offset, ts=ts or datetime.now(UTC),
                  value_bytes=len(value), value_sha256=hashlib.sha256(value).hexdigest())
    whole = BoundedDeadLetter(reason=reason, key_b64=DeadLetter.encode(key) if key else None,
                              value_b64=DeadLetter.encode(value), **common).model_dump_json().encode()
    if _record_bytes(key, whole) <= max_bytes:
        return key, whole
    small_key = key if key and len(key) <= _KEY_MAX_BYTES else None
    note = (f"{reason} [truncated: the original value is {len(value)} bytes, sha256 {common['value_sha256']}; "
            f"fetch it from {topic}[{partition}]@{offset}]")

    def letter(prefix: int) -> bytes:
        return BoundedDeadLetter(reason=note, key_b64=DeadLetter.encode(small_key) if small_key else None,
                                 value_b64=DeadLetter.encode(value[:prefix]), truncated=True,
                                 **common).model_dump_json().encode()

    room = max_bytes - _record_bytes(small_key, letter(0))
    prefix = max(0, room // 4 * 3 - 8)  # base64: 4 characters per 3 bytes; 8 bytes of slack for varints
    out = letter(prefix)
    while prefix > 0 and _record_bytes(small_key, out) > max_bytes:  # not expected; never send what cannot fit
        prefix = prefix * 9 // 10
        out = letter(prefix)
    return small_key, out


@dataclass(frozen=True)
class LetterAt:
    partition: int
    offset: int
    letter: BoundedDeadLetter


class RedriveReport(BaseModel):
    read: int = 0
    redriven: int = 0
    skipped_filter: int = 0
    skipped_invalid: int = 0
    unreadable: int = 0
    fetched: int = 0  # truncated letters whose original was read back from its origin
    unfetchable: int = 0  # truncated letters whose original is gone (retention) or differs: left out


def _consumer(settings: Settings, group: str):
    from confluent_kafka import Consumer

    return Consumer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {
        "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "enable.partition.eof": True}))


def _drain(consumer, topic: str, timeout_s: float, on_message: Callable) -> None:
    """Read until every assigned partition reported EOF (or the timeout), calling on_message."""
    import time

    from confluent_kafka import KafkaError

    consumer.subscribe([topic])
    eof: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            assignment = consumer.assignment()
            if assignment and eof >= {tp.partition for tp in assignment}:
                return
            continue
        if message.error() is not None:
            if message.error().code() == KafkaError._PARTITION_EOF:
                eof.add(message.partition())
                if eof >= {tp.partition for tp in consumer.assignment()}:
                    return
                continue
            raise StackError(f"reading {topic}: {message.error()}")
        eof.discard(message.partition())
        on_message(message)


def read_letters(settings: Settings, limit: int = 0, stage: str | None = None, timeout_s: float = 20.0
                 ) -> list[LetterAt]:
    letters: list[LetterAt] = []
    consumer = _consumer(settings, f"dlq-list-{uuid.uuid4().hex[:8]}")

    def take(message) -> None:
        try:
            letter = BoundedDeadLetter.model_validate_json(message.value())
        except ValidationError:
            return
        if stage is None or letter.stage == stage:
            letters.append(LetterAt(message.partition(), message.offset(), letter))

    try:
        _drain(consumer, settings.topics.dlq, timeout_s, take)
    finally:
        consumer.close()
    letters.sort(key=lambda item: item.letter.ts)
    return letters[-limit:] if limit else letters


def redrive_letters(settings: Settings, stage: str | None = None, reason_contains: str | None = None,
                    dry_run: bool = False, force: bool = False, timeout_s: float = 20.0) -> RedriveReport:
    from confluent_kafka import Producer, TopicPartition

    report = RedriveReport()
    consumer = _consumer(settings, f"{settings.consumer_group}-dlq-redrive")
    producer = Producer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {"enable.idempotence": True}))
    positions: dict[int, int] = {}

    def take(message) -> None:
        report.read += 1
        positions[message.partition()] = message.offset() + 1
        try:
            letter = BoundedDeadLetter.model_validate_json(message.value())
        except ValidationError:
            report.unreadable += 1
            return
        if (stage and letter.stage != stage) or (reason_contains and reason_contains not in letter.reason):
            report.skipped_filter += 1
            return
        key = base64.b64decode(letter.key_b64) if letter.key_b64 else None
        original = letter.original_value()
        if letter.truncated:  # only a prefix travelled: the original is still at its origin, or it is gone
            fetched = _fetch_original(settings, letter)
            if fetched is None:
                report.unfetchable += 1
                return
            report.fetched += 1
            key, original = fetched
        model = _STAGE_MODEL.get(letter.stage)
        if model is not None and not force:
            try:
                decode(original, model, settings.max_event_bytes)
            except InvalidEventError:
                report.skipped_invalid += 1
                return
        report.redriven += 1
        if not dry_run:
            producer.produce(letter.topic, key=key, value=original)
            producer.poll(0)

    try:
        _drain(consumer, settings.topics.dlq, timeout_s, take)
        if not dry_run:
            if producer.flush(30) != 0:
                raise StackError("Kafka did not take every re-driven message; the cursor was not moved")
            if positions:
                consumer.commit(offsets=[TopicPartition(settings.topics.dlq, p, o) for p, o in positions.items()],
                                asynchronous=False)
    finally:
        consumer.close()
    return report


def _fetch_original(settings: Settings, letter: BoundedDeadLetter, timeout_s: float = 10.0
                    ) -> tuple[bytes | None, bytes] | None:
    """(key, value) read back from the letter's origin, if it is still there and its sha256 matches."""
    import time

    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {
        "group.id": f"dlq-fetch-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False, "auto.offset.reset": "error",
        "fetch.message.max.bytes": max(1024 * 1024, letter.value_bytes + 4096)}))
    try:
        consumer.assign([TopicPartition(letter.topic, letter.partition, letter.offset)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None or message.offset() != letter.offset:
                return None  # out of range (deleted by retention) or compacted away
            value = message.value() or b""
            if hashlib.sha256(value).hexdigest() != letter.value_sha256:
                return None
            return message.key(), value
        return None
    finally:
        consumer.close()
