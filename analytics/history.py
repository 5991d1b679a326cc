"""Every decision and action, recorded with its evidence: ClickHouse history, shadow.decisions, a webhook."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from infra.kafka_clients import kafka_config
from schemas.events import DecisionRecord
from schemas.settings import Settings

__all__ = ["DECISIONS_TABLE", "PublishOutcome", "new_decision", "record_decision", "list_history"]

log = logging.getLogger(__name__)
DECISIONS_TABLE = "shadow_decisions"
_COLUMNS = ["decision_id", "ts", "app", "kind", "challenger", "verdict", "score", "actor", "reason", "evidence"]


class PublishOutcome(BaseModel):
    stored: bool
    published: bool
    webhook: bool | None  # None: no webhook configured
    errors: list[str] = []


def new_decision(app: str, kind: str, challenger: str, verdict: str, reason: str, score: float | None = None,
                 evidence: dict[str, Any] | None = None, actor: str = "shadow-optic") -> DecisionRecord:
    # uuid7-like ordering is not needed: ts orders the table; the id only has to be unique.
    return DecisionRecord(decision_id=uuid.uuid4().hex, ts=datetime.now(UTC), app=app, kind=kind,
                          challenger=challenger, verdict=verdict, score=score, actor=actor, reason=reason,
                          evidence=evidence or {})


def _publish(settings: Settings, record: DecisionRecord) -> None:
    from confluent_kafka import Producer

    from infra.kafka_clients import ensure_topics

    topic = settings.topics.decisions
    ensure_topics(settings.kafka_bootstrap, [topic], settings.topic_partitions, security=settings.kafka_security)
    producer = Producer(kafka_config(settings.kafka_bootstrap, settings.kafka_security))
    producer.produce(topic, key=record.app.encode(), value=record.model_dump_json().encode())
    if producer.flush(10) != 0:
        raise RuntimeError(f"decision {record.decision_id} not delivered to {topic} within 10 s")


def record_decision(client: Client, settings: Settings, record: DecisionRecord) -> PublishOutcome:
    """Store first (the history is the source of truth), then tell other systems; report what failed."""
    client.insert(DECISIONS_TABLE, [[record.decision_id, record.ts, record.app, record.kind, record.challenger,
                                     record.verdict, record.score, record.actor, record.reason,
                                     json.dumps(record.evidence, default=str)]], column_names=_COLUMNS)
    outcome = PublishOutcome(stored=True, published=False, webhook=None)
    if settings.kafka_bootstrap:
        try:
            _publish(settings, record)
            outcome.published = True
        except Exception as exc:  # a down broker must not undo a recorded decision
            outcome.errors.append(f"shadow.decisions: {exc}")
    if settings.decisions_webhook_url:
        import httpx

        try:
            httpx.post(settings.decisions_webhook_url, content=record.model_dump_json(),
                       headers={"content-type": "application/json"}, timeout=5.0).raise_for_status()
            outcome.webhook = True
        except Exception as exc:
            outcome.webhook = False
            outcome.errors.append(f"webhook: {exc}")
    for error in outcome.errors:
        log.warning("decision %s recorded but not delivered: %s", record.decision_id, error)
    return outcome


def list_history(client: Client, app: str = "", limit: int = 50, kind: str = "") -> list[DecisionRecord]:
    result = client.query(
        f"SELECT {', '.join(_COLUMNS)} FROM {DECISIONS_TABLE} WHERE ({{app:String}} = '' OR app = {{app:String}}) "
        "AND ({kind:String} = '' OR kind = {kind:String}) ORDER BY ts DESC LIMIT {limit:UInt32}",
        parameters={"app": app, "kind": kind, "limit": limit})
    return [DecisionRecord(decision_id=r[0], ts=r[1].replace(tzinfo=UTC) if r[1].tzinfo is None else r[1], app=r[2],
                           kind=r[3], challenger=r[4], verdict=r[5], score=r[6], actor=r[7], reason=r[8],
                           evidence=json.loads(r[9]) if r[9] else {})
            for r in result.result_rows]
