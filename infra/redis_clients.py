"""Redis client options from the security settings: AUTH (password, or ACL user and password) and, for
rediss:// URLs, the CA the server's certificate is checked against. Passed as keyword arguments next to
the URL to redis-py's `from_url` (they take precedence over credentials written in the URL)."""

from __future__ import annotations

from urllib.parse import urlsplit

from schemas.security import RedisSecurity

__all__ = ["redis_options"]


def redis_options(url: str, security: RedisSecurity | None) -> dict[str, object]:
    """Keyword arguments for redis.Redis.from_url / ConnectionPool.from_url; empty when nothing is set."""
    options: dict[str, object] = {}
    if security is None:
        return options
    if security.password is not None:
        options["password"] = security.password.get_secret_value()
    if security.username:
        options["username"] = security.username
    if security.ca_file is not None and urlsplit(url).scheme == "rediss":
        options["ssl_ca_certs"] = str(security.ca_file)
        options["ssl_cert_reqs"] = "required"
    return options
