"""The versioned DDL every reader and writer of ClickHouse agrees on, and the table names.

Files NNN_name.sql beside this module are applied once each, in numeric order of NNN (`migrate`):
001-099 state the schema of 0.2 (0.1's history squashed, see CHANGELOG.md), 101 and up change it.
How to reach ClickHouse is plumbing: infra.clickhouse.connect.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable

from clickhouse_connect.driver.client import Client

from schemas.errors import ConfigError

__all__ = ["SCORES_TABLE", "JUDGMENTS_TABLE", "ANSWERS_TABLE", "FEEDBACK_TABLE", "OldSchemaError", "migrate", "migrations"]

SCORES_TABLE = "shadow_scores"
JUDGMENTS_TABLE = "shadow_judgments"
ANSWERS_TABLE = "shadow_answers"
FEEDBACK_TABLE = "shadow_feedback"
_MIGRATIONS_TABLE = "shadow_schema_migrations"
_MIGRATION_FILE = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


def _expand(text: str) -> str:
    """Put the figures catalogue's columns and -State expressions (figures.py) in for its markers, so
    each figure is defined once and a migration says only what differs (keys, time bucket)."""
    from schemas.clickhouse.figures import state_columns_sql, states_sql, stored_columns_sql

    for marker, make in (("@FIGURE_STATE_COLUMNS@", state_columns_sql), ("@FIGURE_STATES@", states_sql),
                         ("@FIGURE_COLUMNS@", stored_columns_sql)):
        text = text.replace(marker, make())
    return text


def migrations(directory: Traversable | None = None) -> list[tuple[int, str, list[str]]]:
    """(version, name, statements) of every DDL file (beside this module, or in `directory`), in order."""
    found = []
    for entry in (directory or resources.files(__name__)).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            text = _expand(entry.read_text(encoding="utf-8"))
            statements = [s.strip() for s in _strip_comments(text).split(";") if s.strip()]
            found.append((int(match.group(1)), entry.name, statements))
    found.sort(key=lambda migration: migration[0])  # by number: 101 after 099, 1000 after 999
    twice = sorted({name for version, name, _ in found if [v for v, _, _ in found].count(version) > 1})
    if twice:
        raise ConfigError(f"migrations share a version number: {', '.join(twice)}; renumber one (a new file "
                          "takes the next free number from 101 up)")
    return found


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


class OldSchemaError(ConfigError):
    """The database was built by Shadow-Optic 0.1, whose migrations 0.2 squashed: rebuilt, not migrated."""


def migrate(client: Client, cluster: str | None = None) -> list[str]:
    """Apply the DDL files not applied yet; returns the names applied now.

    With `cluster` (SHADOW_CLICKHOUSE_CLUSTER) every statement is rewritten for it first: Replicated tables
    ON CLUSTER behind Distributed tables of the same names (schemas/clickhouse/cluster.py).
    """
    from schemas.clickhouse.cluster import ClusterDdl

    ddl = ClusterDdl(cluster) if cluster else None

    def rewritten(statement: str) -> list[str]:
        return ddl.rewrite(statement) if ddl is not None else [statement]

    for statement in rewritten(
            f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} (version UInt32, name String, "
            "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"):
        client.command(statement)
    done = dict(client.query(f"SELECT version, name FROM {_MIGRATIONS_TABLE} FINAL").result_rows)
    known = migrations()
    names = {version: name for version, name, _ in known}
    foreign = sorted(name for version, name in done.items() if names.get(version, name) != name)
    if foreign:
        raise OldSchemaError(
            f"this ClickHouse database was built by Shadow-Optic 0.1 (it records migration {foreign[0]}, which "
            "0.2 squashed away): 0.1 databases are rebuilt, not migrated. Point SHADOW_CLICKHOUSE_URL at a new "
            "database (or drop this one) and start again; `shadow-optic rescore` scores again what the "
            "shadow.results topic still holds (see CHANGELOG.md)")
    applied = []
    for version, name, statements in known:
        if version in done:
            for statement in statements:
                rewritten(statement)  # the cluster rewriter follows the tables earlier files made
            continue
        for statement in statements:
            for ready in rewritten(statement):
                client.command(ready)
        client.insert(_MIGRATIONS_TABLE, [[version, name]], column_names=["version", "name"])
        applied.append(name)
    return applied
