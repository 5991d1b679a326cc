"""The versioned DDL every reader and writer of ClickHouse agrees on, and the table names.

Files NNN_name.sql beside this module are applied in order, once each (`migrate`). How to reach
ClickHouse is plumbing: infra.clickhouse.connect.
"""

from __future__ import annotations

import re
from importlib import resources

from clickhouse_connect.driver.client import Client

__all__ = ["SCORES_TABLE", "JUDGMENTS_TABLE", "migrate", "migrations"]

SCORES_TABLE = "shadow_scores"
JUDGMENTS_TABLE = "shadow_judgments"
_MIGRATIONS_TABLE = "shadow_schema_migrations"
_MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


# Markers a migration may use for the aggregate columns and -State expressions every score view
# shares, so each view's file says only what differs (its keys and time bucket).
_SNIPPETS = {"@SCORE_STATE_COLUMNS@": "_score_state_columns.sql", "@SCORE_STATES@": "_score_states.sql"}


def _expand(text: str) -> str:
    for marker, name in _SNIPPETS.items():
        if marker in text:
            snippet = _strip_comments(resources.files(__name__).joinpath(name).read_text(encoding="utf-8")).strip()
            text = text.replace(marker, snippet)
    return text


def migrations() -> list[tuple[int, str, list[str]]]:
    """(version, name, statements) of every DDL file, in order."""
    found = []
    for entry in resources.files(__name__).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            text = _expand(entry.read_text(encoding="utf-8"))
            statements = [s.strip() for s in _strip_comments(text).split(";") if s.strip()]
            found.append((int(match.group(1)), entry.name, statements))
    return sorted(found)


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))


def migrate(client: Client) -> list[str]:
    """Apply the DDL files not applied yet; returns the names applied now."""
    client.command(
        f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = {row[0] for row in client.query(f"SELECT version FROM {_MIGRATIONS_TABLE} FINAL").result_rows}
    applied = []
    for version, name, statements in migrations():
        if version in done:
            continue
        for statement in statements:
            client.command(statement)
        client.insert(_MIGRATIONS_TABLE, [[version, name]], column_names=["version", "name"])
        applied.append(name)
    return applied
