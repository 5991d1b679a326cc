"""`shadow-optic api [--host --port]`: serve the HTTP control API (OpenAPI at /openapi.json, docs at /docs)."""

from __future__ import annotations

import argparse

from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from shadow_optic.api import create_api
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(settings)
    uvicorn.run(create_api(settings), host=args.host, port=args.port, log_level=args.log_level.lower())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("api", help="serve the HTTP control API (status, comparison, deploy, promote, …)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve beyond this machine (no auth: "
                                                           "put it behind your gateway)")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(func=_run)
