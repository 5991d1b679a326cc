"""`shadow-optic lag`: consumer lag of the pipeline's groups, once or watched, with alerts and metrics."""

from __future__ import annotations

import argparse
import json
import time

from schemas.settings import Settings


def _print_table(lags: list) -> None:  # list[GroupLag]; imported lazily with the command
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for lag in lags:
        table = Table(title=f"{lag.group}  ({lag.state})  total lag {lag.total_lag} msgs, "
                            f"oldest unconsumed {lag.max_lag_seconds:.1f}s")
        for column in ("topic", "partition", "committed", "end", "lag", "lag s", "consumer"):
            table.add_column(column, justify="left" if column in ("topic", "consumer") else "right")
        for p in lag.partitions:
            table.add_row(p.topic, str(p.partition), _dash(p.committed_offset), str(p.end_offset), _dash(p.lag),
                          "-" if p.lag_seconds is None else f"{p.lag_seconds:.1f}", p.consumer_id or "-")
        console.print(table)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.lag import LagMetrics, LagMonitor
    from analytics.lag_alerts import AlertRule, LagAlerter
    from shadow_optic.stack.launcher import resolve_settings

    if settings.kafka_bootstrap is None:  # only Kafka is needed: do not insist on Redis/ClickHouse
        settings = resolve_settings(settings)
    rule = AlertRule.from_settings(settings)
    alerter = LagAlerter(rule, args.webhook or settings.lag_alert_webhook_url)
    metrics = LagMetrics()
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host, registry=metrics.registry)
    interval = settings.lag_check_interval_s if args.watch == -1 else args.watch
    checks = 0
    with LagMonitor(settings.kafka_bootstrap, security=settings.kafka_security) as monitor:
        while True:
            groups = monitor.list_groups() if args.all_groups else (args.group or [settings.consumer_group])
            lags = [monitor.describe(group) for group in groups]
            for lag in lags:
                value = lag.total_lag if rule.metric == "messages" else lag.max_lag_seconds
                alerter.observe(lag.group, value)
                metrics.update(lag, alerter.firing(lag.group))
            if args.json:
                print(json.dumps([dict(lag.summary(), alert_firing=alerter.firing(lag.group)) for lag in lags]),
                      flush=True)
            else:
                _print_table(lags)
            checks += 1
            if not interval or (args.checks and checks >= args.checks):
                return 0
            time.sleep(interval)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("lag", help="consumer lag per partition (messages and seconds), alerts, metrics")
    parser.add_argument("--group", action="append",
                        help="consumer group (repeatable; default: SHADOW_CONSUMER_GROUP, the worker's)")
    parser.add_argument("--all-groups", action="store_true", help="every consumer group of the cluster")
    parser.add_argument("--json", action="store_true", help="one JSON line per check")
    parser.add_argument("--watch", type=float, nargs="?", const=-1, default=0.0, metavar="N",
                        help="check every N seconds (bare --watch: SHADOW_LAG_CHECK_INTERVAL_S)")
    parser.add_argument("--checks", type=int, default=0, help="with --watch: stop after this many checks")
    parser.add_argument("--webhook", default=None, help="POST alerts here (default: SHADOW_LAG_ALERT_WEBHOOK_URL)")
    parser.add_argument("--metrics-port", type=int, default=0, help="serve Prometheus metrics on this port")
    parser.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (0.0.0.0 in a container)")
    parser.set_defaults(func=_run)
