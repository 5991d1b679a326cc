"""`shadow-optic api [--host --port]`: serve the HTTP control API (OpenAPI at /openapi.json, docs at /docs)."""

from __future__ import annotations

import argparse
import ipaddress

from schemas.errors import ConfigError
from schemas.settings import Settings


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve beyond this machine


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from shadow_optic.api import create_api
    from shadow_optic.stack.launcher import resolve_settings

    if not settings.api_tokens and not _loopback(args.host):
        raise ConfigError(f"refusing to serve the control API on {args.host} without tokens: anyone who reaches it "
                          "could deploy challengers (and so receive mirrored prompts). Set SHADOW_API_TOKENS "
                          "(README, Production security) or serve on 127.0.0.1")
    settings = resolve_settings(settings)
    uvicorn.run(create_api(settings), host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("api", help="serve the HTTP control API (status, comparison, deploy, promote, …)")
    parser.add_argument("--host", default="127.0.0.1", help="beyond loopback (e.g. 0.0.0.0) only with SHADOW_API_TOKENS "
                                                           "set: every call then needs a bearer token")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(func=_run)
