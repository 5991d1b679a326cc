"""Reading and re-driving the dead-letter topic (the `shadow-optic dlq` command's engine).

list: every letter from the beginning, with a throwaway consumer group (commits nothing).
redrive: letters after the redrive cursor (consumer group `<group>-dlq-redrive`) are re-published,
original key and bytes, to the topic they came from; the cursor is committed only after Kafka has
them, so a redrive interrupted half-way is resumed, not repeated. A letter whose bytes still do not
validate is reported and left out unless forced: it would only come back.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from schemas.dead_letter import DeadLetter
from schemas.errors import InvalidEventError, StackError
from schemas.events import InferenceEvent, ScoredRecord, ShadowResult
from schemas.settings import Settings
from stream_agents.decoding import decode

__all__ = ["LetterAt", "RedriveReport", "read_letters", "redrive_letters"]

_STAGE_MODEL: dict[str, type[BaseModel]] = {"replay": InferenceEvent, "scoring": ShadowResult,
                                             "sink": ScoredRecord}


@dataclass(frozen=True)
class LetterAt:
    partition: int
    offset: int
    letter: DeadLetter


class RedriveReport(BaseModel):
    read: int = 0
    redriven: int = 0
    skipped_filter: int = 0
    skipped_invalid: int = 0
    unreadable: int = 0


def _consumer(settings: Settings, group: str):
    from confluent_kafka import Consumer

    return Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "enable.partition.eof": True})


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
            letter = DeadLetter.model_validate_json(message.value())
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
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    positions: dict[int, int] = {}

    def take(message) -> None:
        report.read += 1
        positions[message.partition()] = message.offset() + 1
        try:
            letter = DeadLetter.model_validate_json(message.value())
        except ValidationError:
            report.unreadable += 1
            return
        if (stage and letter.stage != stage) or (reason_contains and reason_contains not in letter.reason):
            report.skipped_filter += 1
            return
        original = letter.original_value()
        model = _STAGE_MODEL.get(letter.stage)
        if model is not None and not force:
            try:
                decode(original, model, settings.max_event_bytes)
            except InvalidEventError:
                report.skipped_invalid += 1
                return
        report.redriven += 1
        if not dry_run:
            key = base64.b64decode(letter.key_b64) if letter.key_b64 else None
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
