"""How to reach ClickHouse: one code path, clickhouse-connect, either to a server (http(s)://…) or
to the embedded chDB engine (chdb:///dir). The tables and their DDL are in schemas.clickhouse."""

from __future__ import annotations

from urllib.parse import urlsplit

from clickhouse_connect.driver.client import Client

from schemas.errors import ConfigError, StoreUnavailableError

__all__ = ["connect", "redact_url"]


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
