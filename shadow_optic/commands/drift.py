"""`shadow-optic drift`: tumbling or sliding drift windows per challenger (and route / tenant)."""

from __future__ import annotations

import argparse
import json

from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.scope import Scope, one_scorer_version
    from analytics.windows import DriftQuery, drift
    from infra.clickhouse import connect
    from shadow_optic.report import drift_rows_table, drift_table
    from shadow_optic.stack.launcher import resolve_settings

    app = settings.app_name if args.app is None else args.app
    settings = resolve_settings(settings)
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        # One scorer version, never a mix: the one asked for (several is an error), else the latest of the app.
        version = one_scorer_version(client, app, args.scorer_version)
        if args.simple:  # the compact table, from the exact path as it always was
            query = DriftQuery(scope=Scope(app=app, scorer_version=version), minutes=args.minutes, source="exact")
        else:
            query = DriftQuery(scope=Scope(app=app, scorer_version=version), minutes=args.minutes,
                               step_minutes=args.step, by=args.by or [], source="exact" if args.exact else "view",
                               challenger=args.challenger)
        windows = drift(client, query)
    finally:
        client.close()
    if args.json:  # every window carries the scorer version it was computed from
        print(json.dumps([w.model_dump(mode="json") for w in windows]))
    elif args.simple:
        drift_table(windows, args.minutes, scorer_version=version or "—")
    else:
        drift_rows_table(windows, args.minutes, args.step, args.exact, scorer_version=version or "—")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("drift", help="windowed drift per challenger (route, tenant) from ClickHouse")
    parser.add_argument("--minutes", type=int, default=5, help="window length")
    parser.add_argument("--step", type=int, default=None, help="slide by this many minutes (default: tumbling)")
    parser.add_argument("--by", action="append", choices=["route", "tenant"], help="also split by route / tenant")
    parser.add_argument("--challenger", default="")
    parser.add_argument("--exact", action="store_true",
                        help="read shadow_scores FINAL (each pair once, exact quantiles) instead of the rollup")
    parser.add_argument("--simple", action="store_true", help="the original compact table")
    parser.add_argument("--app", default=None,
                        help="the app (default: SHADOW_APP_NAME; '' = every app, still one scorer version)")
    parser.add_argument("--scorer-version", action="append", default=[],
                        help="the one scorer version to read (default: the latest of the app); "
                             "asking for several is an error, never a mix")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_run)
