"""How to reach ClickHouse and the versioned DDL every reader and writer agrees on.

One code path: clickhouse-connect, either to a server (http(s)://…) or to the embedded chDB engine
(chdb:///dir). Files NNN_name.sql beside this module are applied once each, in numeric order of NNN:
001-099 state the schema of 0.2 (0.1's history squashed, see CHANGELOG.md), 101 and up change it.
"""

from __future__ import annotations

import re
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import urlsplit

from clickhouse_connect.driver.client import Client

from schemas.errors import ConfigError, StoreUnavailableError

__all__ = ["SCORES_TABLE", "JUDGMENTS_TABLE", "connect", "migrate", "migrations"]

SCORES_TABLE = "shadow_scores"
JUDGMENTS_TABLE = "shadow_judgments"
_MIGRATIONS_TABLE = "shadow_schema_migrations"
_MIGRATION_FILE = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")


def connect(url: str) -> Client:
    """A clickhouse-connect client for `url` (http://, https:// or chdb:///abs/dir)."""
    import clickhouse_connect  # heavy import, only when a client is really wanted

    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https", "chdb"):
        raise ConfigError(
            f"SHADOW_CLICKHOUSE_URL={url!r} is not understood: use http(s)://host:8123/db for a "
            "ClickHouse server or chdb:///absolute/dir for the embedded engine"
        )
    try:
        if scheme == "chdb":
            return clickhouse_connect.get_client(dsn=url)
        # No session id: the client is shared by concurrent batches and needs no server-side state.
        return clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False)
    except Exception as exc:  # clickhouse-connect raises several unrelated types here
        raise StoreUnavailableError(f"cannot reach ClickHouse at {redact_url(url)}: {exc}") from exc


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


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


def migrate(client: Client) -> list[str]:
    """Apply the DDL files not applied yet; returns the names applied now."""
    client.command(
        f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = dict(client.query(f"SELECT version, name FROM {_MIGRATIONS_TABLE} FINAL").result_rows)
    known = migrations()
    names = {version: name for version, name, _ in known}
    foreign = sorted(name for version, name in done.items() if names.get(version, name) != name)
    if foreign:
        raise ConfigError(
            f"this ClickHouse database was built by Shadow-Optic 0.1 (it records migration {foreign[0]}, which "
            "0.2 squashed away): 0.1 databases are rebuilt, not migrated. Point SHADOW_CLICKHOUSE_URL at a new "
            "database (or drop this one) and start again; `shadow-optic rescore` scores again what the "
            "shadow.results topic still holds (see CHANGELOG.md)")
    applied = []
    for version, name, statements in known:
        if version in done:
            continue
        for statement in statements:
            client.command(statement)
        client.insert(_MIGRATIONS_TABLE, [[version, name]], column_names=["version", "name"])
        applied.append(name)
    return applied
