"""How to reach ClickHouse and the versioned DDL every reader and writer agrees on.

One code path: clickhouse-connect, either to a server (http(s)://…) or to the embedded chDB engine
(chdb:///dir). Files NNN_name.sql beside this module are applied in order, once each.
"""

from __future__ import annotations

import re
from importlib import resources
from urllib.parse import urlsplit

from clickhouse_connect.driver.client import Client

from connections.security import ClickHouseSecurity
from schemas.errors import ConfigError, StoreUnavailableError

__all__ = ["SCORES_TABLE", "JUDGMENTS_TABLE", "connect", "migrate", "migrations"]

SCORES_TABLE = "shadow_scores"
JUDGMENTS_TABLE = "shadow_judgments"
_MIGRATIONS_TABLE = "shadow_schema_migrations"
_MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def connect(url: str, security: ClickHouseSecurity | None = None) -> Client:
    """A clickhouse-connect client for `url` (http://, https:// or chdb:///abs/dir).

    `security` (SHADOW_CLICKHOUSE_USERNAME/_PASSWORD/_CA_FILE) overrides a user:password written in the URL
    and gives the CA an https:// server's certificate is checked against.
    """
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
        return clickhouse_connect.get_client(dsn=url, autogenerate_session_id=False, **_credentials(url, security))
    except Exception as exc:  # clickhouse-connect raises several unrelated types here
        raise StoreUnavailableError(f"cannot reach ClickHouse at {redact_url(url)}: {exc}") from exc


def _credentials(url: str, security: ClickHouseSecurity | None) -> dict[str, object]:
    options: dict[str, object] = {}
    if security is None:
        return options
    if security.username:
        options["username"] = security.username
    if security.password is not None:
        options["password"] = security.password.get_secret_value()
    if security.ca_file is not None and urlsplit(url).scheme == "https":
        options["ca_cert"] = str(security.ca_file)
    return options


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


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
