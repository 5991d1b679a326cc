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
KEPT_TABLES = frozenset({"shadow_decisions", "shadow_alerts", "shadow_schema_migrations", "shadow_watermarks"})


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


def _split_rules(ttl: str) -> list[str]:
    rules, depth, start = [], 0, 0
    for i, char in enumerate(ttl):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            rules.append(ttl[start:i].strip())
            start = i + 1
    rules.append(ttl[start:].strip())
    return [rule for rule in rules if rule]


def _own_rules(client: Client, table: str, column: str) -> list[str] | None:
    """The table's TTL rules other than the retention rule this module sets (e.g. a table's own clean-up);
    None when the table has no TTL at all."""
    text = str(client.command(f"SHOW CREATE TABLE {table}")).replace("\\n", "\n")
    ttl_at = text.find("\nTTL ")
    if ttl_at < 0:
        return None
    ttl = text[ttl_at + len("\nTTL "):]
    end = ttl.find("\nSETTINGS")
    ttl = ttl if end < 0 else ttl[:end]
    ours = f"toDateTime({column}) + toIntervalSecond("
    return [rule for rule in _split_rules(ttl) if not rule.startswith(ours)]


def apply_table_ttl(client: Client, days: float | None) -> list[str]:
    """Rows older than `days` are dropped at merges (None: the retention rule is taken away again); a table's
    own TTL rules are kept beside it. Returns the tables changed."""
    tables = retained_tables(client)
    for table, column in tables:
        own = _own_rules(client, table, column)
        rules = list(own or [])
        if days is not None:
            # `WHERE 1`: ClickHouse allows one unconditional DELETE rule per table, and a table may have its
            # own (shadow_answers expires each row at expires_at); a conditional rule may sit beside it.
            rules.append(f"toDateTime({column}) + toIntervalSecond({int(days * 24 * 3600)}) WHERE 1")
        if rules:
            client.command(f"ALTER TABLE {table} MODIFY TTL {', '.join(rules)}")
        elif own is not None:  # only our rule was there
            client.command(f"ALTER TABLE {table} REMOVE TTL")
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
