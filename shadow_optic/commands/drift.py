"""`shadow-optic drift`: windowed drift per challenger, from ClickHouse."""

from __future__ import annotations

import argparse
import json

from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.drift import drift_windows
    from schemas.clickhouse import connect
    from shadow_optic.report import drift_table
    from shadow_optic.stack.launcher import resolve_settings

    client = connect(resolve_settings(settings).clickhouse_url)
    try:
        windows = drift_windows(client, minutes=args.minutes, app=args.app, scorer_version=args.scorer_version)
    finally:
        client.close()
    if args.json:
        print(json.dumps([w.model_dump(mode="json") for w in windows]))
    else:
        drift_table(windows, args.minutes)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("drift", help="windowed drift per challenger from ClickHouse")
    parser.add_argument("--minutes", type=int, default=5)
    parser.add_argument("--app", default="", help="only this app (the gateway's SHADOW_APP_NAME)")
    parser.add_argument("--scorer-version", default="")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_run)
