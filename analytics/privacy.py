"""Forgetting one tenant's or one user's data: deleted from ClickHouse now, and a report of what stays in
Kafka until the topics' retention removes it (Kafka cannot delete single records from a topic).

A tenant is the event's `tenant`; a user is the event's `user` tag (sent as `X-Shadow-Tag-User`: the OpenAI
`user` field itself is not stored in events). Rows are found by tenant where a table has that column and by
event id everywhere else (the ids come from shadow_scores and from a scan of the requests topic). Figures
that sum many tenants (the '*' rows of rollups) keep the tenant's share of counts and sums: they hold no
text and no id.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from infra.kafka_clients import kafka_config
from infra.retention import topic_retention
from infra.topic_ranges import offsets_by_time, read_ranges
from schemas.errors import ConfigError, InvalidRequestError
from schemas.settings import Settings

__all__ = ["TopicRemains", "ForgetReport", "forget"]

log = logging.getLogger(__name__)
USER_TAG = "user"


class TopicRemains(BaseModel):
    topic: str
    messages: int  # records of the tenant/user still on the topic
    newest: datetime | None
    retention_ms: int | None  # -1: kept forever
    gone_by: datetime | None  # when retention removes the newest of them (None: never, or nothing there)


class ForgetReport(BaseModel):
    tenant: str | None
    user: str | None
    dry_run: bool
    event_ids: int
    deleted_rows: dict[str, int]  # table -> rows deleted (or that would be, with dry_run)
    kafka: list[TopicRemains]
    note: str


def _matches(event: dict, tenant: str | None, user: str | None) -> bool:
    if tenant is not None and event.get("tenant") != tenant:
        return False
    return user is None or (event.get("tags") or {}).get(USER_TAG) == user


def _scan(settings: Settings, topic: str, tenant: str | None, user: str | None,
          timeout_s: float) -> tuple[set[str], TopicRemains]:
    """Event ids of the matching records of `topic` (events, or results embedding one) and what remains."""
    from confluent_kafka import Consumer

    consumer = Consumer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {
        "group.id": "shadow-optic-privacy-scan", "enable.auto.commit": False, "log_level": 3}))
    ids: set[str] = set()
    newest_ms = None
    count = 0
    try:
        try:
            ranges = offsets_by_time(consumer, topic, None, None, timeout_s)
        except ConfigError:  # the topic does not exist: nothing of anyone on it
            ranges = {}
        for batch in read_ranges(consumer, topic, ranges, stall_timeout_s=timeout_s):
            for message in batch:
                try:
                    value = json.loads(message.value())
                except (TypeError, ValueError):
                    continue
                event = value.get("event", value) if isinstance(value, dict) else None
                if isinstance(event, dict) and _matches(event, tenant, user):
                    count += 1
                    ids.add(str(event.get("event_id")))
                    newest_ms = max(newest_ms or 0, message.timestamp()[1])
    finally:
        consumer.close()
    retention = topic_retention(settings.kafka_bootstrap, [topic], settings.kafka_security)[topic]
    newest = datetime.fromtimestamp(newest_ms / 1000, UTC) if newest_ms else None
    gone_by = newest + timedelta(milliseconds=retention) if newest and retention is not None and retention >= 0 \
        else None
    return ids, TopicRemains(topic=topic, messages=count, newest=newest, retention_ms=retention, gone_by=gone_by)


def _tables_with(client: Client, column: str) -> list[str]:
    rows = client.query("SELECT table FROM system.columns WHERE database = currentDatabase() AND name = {c:String} "
                        "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() "
                        "AND engine LIKE '%MergeTree' AND name LIKE 'shadow\\\\_%') ORDER BY table",
                        parameters={"c": column}).result_rows
    return [r[0] for r in rows]


def forget(settings: Settings, client: Client, tenant: str | None = None, user: str | None = None,
           dry_run: bool = False, timeout_s: float = 30.0) -> ForgetReport:
    if not (tenant or user):
        raise InvalidRequestError("say whose data to delete: --tenant NAME and/or --user ID")
    if not settings.kafka_bootstrap:
        raise ConfigError("the requests topic is read to find the events: set SHADOW_KAFKA_BOOTSTRAP or `stack up`")
    topics = settings.topics
    ids: set[str] = set()
    remains = []
    for topic in (topics.requests, topics.results):
        found, left = _scan(settings, topic, tenant, user, timeout_s)
        ids |= found
        remains.append(left)
    if tenant is not None and user is None:
        ids |= {r[0] for r in client.query("SELECT DISTINCT event_id FROM shadow_scores WHERE tenant = {t:String}",
                                           parameters={"t": tenant}).result_rows}
    deleted: dict[str, int] = {}
    id_list = sorted(ids)
    by_tenant = set(_tables_with(client, "tenant")) if tenant is not None and user is None else set()
    for table in sorted(set(_tables_with(client, "event_id")) | by_tenant):
        if table in by_tenant:
            where, params = "tenant = {t:String}", {"t": tenant}
        elif id_list:
            where, params = "event_id IN {ids:Array(String)}", {"ids": id_list}
        else:
            continue
        rows = int(client.command(f"SELECT count() FROM {table} WHERE {where}", parameters=params))
        if rows and not dry_run:
            client.command(f"ALTER TABLE {table} DELETE WHERE {where} SETTINGS mutations_sync = 2", parameters=params)
        deleted[table] = rows
    if not dry_run:
        log.warning("deleted the data of %s from ClickHouse: %s", f"tenant {tenant}" if tenant else f"user {user}",
                    deleted)
    note = ("Kafka keeps records until each topic's retention removes them (see kafka[].gone_by); aggregates "
            "over all tenants keep this one's share of counts and sums, without text or ids.")
    return ForgetReport(tenant=tenant, user=user, dry_run=dry_run, event_ids=len(ids), deleted_rows=deleted,
                        kafka=remains, note=note)
