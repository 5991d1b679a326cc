"""How to reach ClickHouse: one code path, clickhouse-connect, either to a server (http(s)://…) or
to the embedded chDB engine (chdb:///dir). The tables and their DDL are in schemas.clickhouse."""

from __future__ import annotations

from urllib.parse import urlsplit

from clickhouse_connect.driver.client import Client

from schemas.errors import ConfigError, StoreUnavailableError
from schemas.security import ClickHouseSecurity

__all__ = ["connect", "redact_url"]


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
