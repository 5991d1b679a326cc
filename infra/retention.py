"""Retention in one place (SHADOW_RETENTION_DAYS): the pipeline topics' retention.ms and a TTL on every
ClickHouse table of events and figures, so nothing is kept longer than the setting says.

The tables are found in the database, not listed here: every MergeTree table named shadow_* with a time
column (the first of TIME_COLUMNS it has), except the audit trail and bookkeeping in KEPT_TABLES (decisions
and alerts say what was decided and why; they hold no prompt, answer or event id).
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from infra.kafka_clients import kafka_config
from schemas.errors import StackError
from schemas.security import KafkaSecurity

__all__ = ["TIME_COLUMNS", "KEPT_TABLES", "retained_tables", "apply_table_ttl", "apply_topic_retention",
           "retention_ms"]

TIME_COLUMNS = ("ts_request", "ts", "minute", "bucket", "hour")
KEPT_TABLES = frozenset({"shadow_decisions", "shadow_alerts", "shadow_schema_migrations",
                         "shadow_evidence_watermark"})


def retention_ms(days: float) -> int:
    return int(days * 24 * 3600 * 1000)


def retained_tables(client: Client) -> list[tuple[str, str]]:
    """(table, time column) of every table the retention applies to."""
    rows = client.query(
        "SELECT t.name, groupArray(c.name) FROM system.tables AS t "
        "INNER JOIN system.columns AS c ON c.database = t.database AND c.table = t.name "
        "WHERE t.database = currentDatabase() AND t.engine LIKE '%MergeTree' AND t.name LIKE 'shadow\\\\_%' "
        "GROUP BY t.name ORDER BY t.name").result_rows
    found = []
    for table, columns in rows:
        if table in KEPT_TABLES:
            continue
        column = next((c for c in TIME_COLUMNS if c in columns), None)
        if column is not None:
            found.append((table, column))
    return found


def apply_table_ttl(client: Client, days: float) -> list[str]:
    """Set the TTL (rows older than `days` are dropped at merges); returns the tables changed."""
    seconds = int(days * 24 * 3600)
    tables = retained_tables(client)
    for table, column in tables:
        client.command(f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + INTERVAL {seconds} SECOND")
    return [table for table, _ in tables]


def apply_topic_retention(bootstrap: str, names: list[str], days: float, security: KafkaSecurity | None = None,
                          timeout_s: float = 30.0) -> None:
    """Set retention.ms on existing topics (created ones get it too, through this call after ensure_topics)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    admin = AdminClient(kafka_config(bootstrap, security))
    value = str(retention_ms(days))
    resources = [ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", value, incremental_operation=AlterConfigOpType.SET)]) for name in names]
    for resource, future in admin.incremental_alter_configs(resources).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            raise StackError(f"could not set retention.ms={value} on topic {resource.name}: {exc}") from exc


def topic_retention(bootstrap: str, names: list[str], security: KafkaSecurity | None = None,
                    timeout_s: float = 30.0) -> dict[str, int | None]:
    """retention.ms of each topic as the broker has it (-1: forever; None: the topic does not exist)."""
    from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

    admin = AdminClient(kafka_config(bootstrap, security))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    out: dict[str, int | None] = {name: None for name in names}
    wanted = [ConfigResource(ResourceType.TOPIC, name) for name in names if name in existing]
    if wanted:
        for resource, future in admin.describe_configs(wanted).items():
            entry = future.result(timeout=timeout_s).get("retention.ms")
            out[resource.name] = int(entry.value) if entry is not None and entry.value is not None else None
    return out


__all__ += ["topic_retention"]
