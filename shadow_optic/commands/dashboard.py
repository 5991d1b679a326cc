"""`shadow-optic dashboard [--once] [--json] [--interval N]`: champion, challengers, health, progress, lag."""

from __future__ import annotations

import argparse
import sys
import time

from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from analytics.lag import LagMonitor
    from infra.clickhouse import connect
    from schemas.errors import ShadowOpticError
    from shadow_optic.dashboard import collect_overview, render
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(settings)
    app = args.app if args.app is not None else settings.app_name
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    monitor = None if args.no_lag else LagMonitor(settings.kafka_bootstrap, security=settings.kafka_security)
    try:
        def snapshot():
            return collect_overview(settings, app, client, monitor, args.health_minutes)

        if args.json and (args.once or not args.interval):
            print(snapshot().model_dump_json())
            return 0
        if args.json:  # one JSON line per refresh: for scripts that follow the dashboard
            while True:
                print(snapshot().model_dump_json(), flush=True)
                time.sleep(args.interval)
        if args.once:
            # Piped output has no terminal width: use one wide enough for every column.
            console = Console() if sys.stdout.isatty() else Console(width=220)
            console.print(render(snapshot()))
            return 0
        interval = args.interval or 5.0
        console = Console()
        with Live(render(snapshot()), console=console, refresh_per_second=2, screen=False) as live:
            while True:
                time.sleep(interval)
                try:
                    live.update(render(snapshot()))
                except ShadowOpticError as exc:  # a service blinked: say so, keep the last picture's place
                    live.update(Text(f"refresh failed: {exc}; retrying in {interval:g}s", style="red"))
    finally:
        if monitor is not None:
            monitor.close()
        client.close()


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dashboard", help="live terminal dashboard: champion, challengers, health, progress, lag")
    parser.add_argument("--app", default=None, help="app to show (default: SHADOW_APP_NAME)")
    parser.add_argument("--once", action="store_true", help="print one picture and exit")
    parser.add_argument("--json", action="store_true",
                        help="print the figures as JSON (once; with --interval, one line per refresh)")
    parser.add_argument("--interval", type=float, default=None, metavar="N",
                        help="seconds between refreshes (live: default 5; with --json: one line per refresh)")
    parser.add_argument("--health-minutes", type=int, default=15, help="window of the health marks")
    parser.add_argument("--no-lag", action="store_true", help="do not read consumer lag (verdicts are not held back)")
    parser.set_defaults(func=_run)
