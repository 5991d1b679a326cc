"""`shadow-optic report html | regressions | export-pairs`: files to read and hand on."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from schemas.settings import Settings


def _scope(args: argparse.Namespace, settings: Settings, client):  # noqa: ANN001, ANN202 - CH client -> Scope
    from analytics.service import decision_scope

    app = args.app if args.app is not None else settings.app_name
    return decision_scope(client, settings, app, args.scorer_version)


def _fetcher(settings: Settings):  # noqa: ANN202 - an AnswerFetcher
    from analytics.reports.answers import fetch_answers
    from schemas.errors import ConfigError

    if not settings.kafka_bootstrap:
        raise ConfigError("the answers are read from shadow.results: set SHADOW_KAFKA_BOOTSTRAP or run `stack up`")
    return lambda wanted, since, until: fetch_answers(settings.kafka_bootstrap, settings.topics.results, wanted,
                                                      since, until, security=settings.kafka_security)


def _html(args: argparse.Namespace, settings: Settings, client) -> int:  # noqa: ANN001
    from analytics.lag import LagMonitor
    from analytics.reports import all_plots, gather_report, render_html
    from analytics.service import verdicts
    from analytics.staleness import kafka_lag
    from schemas.errors import ShadowOpticError

    scope = _scope(args, settings, client)
    report = verdicts(client, settings, scope.app, scope.scorer_version, None if args.no_lag else kafka_lag)
    lag, lag_error = None, "not read (--no-lag)" if args.no_lag else None
    if not args.no_lag:
        try:
            with LagMonitor(settings.kafka_bootstrap, security=settings.kafka_security) as monitor:
                lag = monitor.describe(settings.consumer_group)
        except ShadowOpticError as exc:
            lag_error = str(exc)
    data = gather_report(client, settings, scope, report, lag, lag_error, args.window_minutes)
    args.out.write_text(render_html(data, all_plots(data)), encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB): {len(report.verdicts)} challenger(s)",
          file=sys.stderr)
    return 0


def _regressions(args: argparse.Namespace, settings: Settings, client) -> int:  # noqa: ANN001
    from analytics.reports import regression_suite

    suite = regression_suite(client, _scope(args, settings, client), _fetcher(settings), args.per_challenger,
                             args.max_similarity, args.challenger)
    args.out.write_text(suite.model_dump_json(indent=2), encoding="utf-8")
    print(json.dumps({"out": str(args.out), "cases": len(suite.cases), "missing": len(suite.missing)}))
    return 0


def _export_pairs(args: argparse.Namespace, settings: Settings, client) -> int:  # noqa: ANN001
    from analytics.reports import training_pairs

    with args.out.open("w", encoding="utf-8") as handle:
        export = training_pairs(client, _scope(args, settings, client), _fetcher(settings),
                                lambda pair: handle.write(pair.model_dump_json(exclude_none=True) + "\n"),
                                args.min_similarity, args.max_similarity, args.challenger, args.limit)
    print(json.dumps({"out": str(args.out), "written": export.written, "selected": export.selected,
                      "missing": len(export.missing)}))
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from infra.clickhouse import connect
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(settings)
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        return {"html": _html, "regressions": _regressions, "export-pairs": _export_pairs}[args.kind](
            args, settings, client)
    finally:
        client.close()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="file to write")
    parser.add_argument("--app", default=None, help="default: SHADOW_APP_NAME")
    parser.add_argument("--scorer-version", default="", help="default: the latest")
    parser.set_defaults(func=_run)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("report", help="HTML report with plots, JSON regression suite, JSONL training pairs")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = kinds.add_parser("html", help="self-contained HTML report: verdicts, similarity/ΔS, latency, cost, lag plots")
    _common(p)
    p.add_argument("--window-minutes", type=int, default=0, help="plot window (default: about 48 points)")
    p.add_argument("--no-lag", action="store_true", help="do not read consumer lag from Kafka")
    p = kinds.add_parser("regressions", help="JSON suite of the inputs where challenger and production diverge most")
    _common(p)
    p.add_argument("--per-challenger", type=int, default=20, help="cases per challenger")
    p.add_argument("--max-similarity", type=float, default=1.0, help="only pairs at or below this (flips always)")
    p.add_argument("--challenger", default="", help="only this challenger")
    p = kinds.add_parser("export-pairs", help="JSONL production (teacher) / challenger (student) pairs for fine-tuning")
    _common(p)
    p.add_argument("--min-similarity", type=float, required=True, help="keep pairs scored at least this similar")
    p.add_argument("--max-similarity", type=float, default=1.0)
    p.add_argument("--challenger", default="", help="only this challenger")
    p.add_argument("--limit", type=int, default=100_000)
