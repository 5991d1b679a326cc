"""`shadow-optic verdict | promote | rollback | history | costs | readiness | alerts | feedback`."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from schemas.errors import ConfigError
from schemas.settings import Settings


@contextmanager
def _clickhouse(settings: Settings):
    from infra.clickhouse import connect

    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        yield client
    finally:
        client.close()


def _resolved(settings: Settings) -> Settings:
    from shadow_optic.stack.launcher import resolve_settings

    return resolve_settings(settings)


def _app(args: argparse.Namespace, settings: Settings) -> str:
    return args.app if args.app is not None else settings.app_name


def _lag_check(args: argparse.Namespace):
    from analytics.staleness import kafka_lag

    return None if args.no_lag_check else kafka_lag


def _print(payload, as_json: bool, render) -> int:
    if as_json:
        print(json.dumps(payload if isinstance(payload, (dict, list)) else payload.model_dump(mode="json"), default=str))
    else:
        render()
    return 0


def _verdict(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.service import verdicts
    from shadow_optic.report import verdict_table

    settings = _resolved(settings)
    with _clickhouse(settings) as client:
        report = verdicts(client, settings, _app(args, settings), args.scorer_version, _lag_check(args),
                          record=args.record)
    return _print(report, args.json, lambda: verdict_table(report, verbose=args.explain))


def _promote(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.champion import ChampionRegistry
    from analytics.rollout import RolloutStore, parse_duration, parse_steps
    from analytics.service import CanaryRequest, promote, verdicts
    from shadow_optic.report import action_line, verdict_table

    settings = _resolved(settings)
    with _clickhouse(settings) as client:
        if args.dry_run:
            report = verdicts(client, settings, _app(args, settings), lag_check=_lag_check(args))
            return _print(report, args.json, lambda: verdict_table(report, verbose=True))
        registry = ChampionRegistry.from_url(settings.redis_url, settings.champion_key_prefix,
                                             settings.redis_security)
        rollouts = RolloutStore.from_url(settings.redis_url, settings.champion_key_prefix, settings.redis_security)
        canary = None
        if args.canary:
            canary = CanaryRequest(steps=parse_steps(args.steps) if args.steps else None,
                                   hold_s=parse_duration(args.hold) if args.hold else None)
        result = promote(client, settings, registry, _app(args, settings), args.challenger, args.force, args.actor,
                         _lag_check(args), canary, rollouts)
    _print(result, args.json, lambda: action_line(result))
    return 0 if result.done else 1


def _rollback(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.champion import ChampionRegistry
    from analytics.rollout import RolloutStore
    from analytics.service import rollback
    from shadow_optic.report import action_line

    settings = _resolved(settings)
    with _clickhouse(settings) as client:
        registry = ChampionRegistry.from_url(settings.redis_url, settings.champion_key_prefix,
                                             settings.redis_security)
        rollouts = RolloutStore.from_url(settings.redis_url, settings.champion_key_prefix, settings.redis_security)
        result = rollback(client, settings, registry, _app(args, settings), args.to, args.reason, args.actor, rollouts)
    return _print(result, args.json, lambda: action_line(result))


def _history(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.history import list_history
    from shadow_optic.report import history_table

    settings = _resolved(settings)
    with _clickhouse(settings) as client:
        records = list_history(client, _app(args, settings), args.limit, args.kind)
    return _print([r.model_dump(mode="json") for r in records], args.json, lambda: history_table(records))


def _costs(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.cost_budget import CostBudgetStore, set_budget
    from analytics.costs import cost_report
    from analytics.scope import Scope
    from shadow_optic.report import cost_tables

    settings = _resolved(settings)
    app = _app(args, settings)
    store = CostBudgetStore.from_url(settings.redis_url, settings.champion_key_prefix, settings.redis_security) \
        if settings.redis_url else None
    with _clickhouse(settings) as client:
        if args.set_budget is not None or args.clear_budget:
            if store is None:
                raise ConfigError("a budget set at run time is kept in Redis: set SHADOW_REDIS_URL")
            set_budget(client, settings, store, app, None if args.clear_budget else args.set_budget,
                       args.period or "day", args.actor)
        kept = store.get(app) if store is not None else None
        usd, period = (args.budget, args.period) if args.budget is not None else \
            ((kept.usd, kept.period) if kept else (None, None))
        report = cost_report(client, settings, Scope(app=app), args.top, args.days, usd, period)
    _print(report, args.json, lambda: cost_tables(report))
    return 1 if report.budget_alerts and args.fail_over_budget else 0


def _readiness(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.readiness import readiness
    from analytics.service import decision_scope
    from shadow_optic.report import readiness_table

    settings = _resolved(settings)
    with _clickhouse(settings) as client:
        results = readiness(client, settings, decision_scope(client, settings, _app(args, settings)))
    return _print([r.model_dump(mode="json") for r in results], args.json, lambda: readiness_table(results))


def _alerts(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.alerts import evaluate_alerts
    from analytics.scope import Scope, latest_scorer_version
    from shadow_optic.report import alert_table

    settings = _resolved(settings)
    with _clickhouse(settings) as client:
        # One scorer version: a scorer upgrade shifts similarity, and must not read as drift.
        app = _app(args, settings)
        scope = Scope(app=app, scorer_version=latest_scorer_version(client, app))
        events, firing = evaluate_alerts(client, settings, scope, record=not args.no_record)
    payload = {"firing": [e.model_dump(mode="json") for e in firing],
               "transitions": [e.model_dump(mode="json") for e in events]}
    _print(payload, args.json, lambda: alert_table(events, firing))
    return 1 if firing and args.fail_on_firing else 0


def _feedback(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.outcomes import consume_feedback, publish_feedback, record_feedback
    from schemas.events import OutcomeFeedback

    settings = _resolved(settings)
    if args.consume:
        with _clickhouse(settings) as client:
            stored, rejected = consume_feedback(settings, client)
        print(json.dumps({"stored": stored, "rejected": rejected}))
        return 0
    handle = sys.stdin if str(args.file) == "-" else open(args.file, encoding="utf-8")
    with handle:
        records = [OutcomeFeedback.model_validate_json(line) for line in handle if line.strip()]
    if args.via_kafka:
        count = publish_feedback(settings, records)
    else:
        with _clickhouse(settings) as client:
            count = record_feedback(client, records)
    print(json.dumps({"sent" if args.via_kafka else "stored": count}))
    return 0


def _common(parser: argparse.ArgumentParser, json_flag: bool = True) -> None:
    parser.add_argument("--app", default=None, help="app to judge (default: SHADOW_APP_NAME)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verdict", help="promotion verdict, score and evidence of every challenger")
    _common(p)
    p.add_argument("--scorer-version", default="", help="default: the latest")
    p.add_argument("--explain", action="store_true", help="print every gate with its figures")
    p.add_argument("--record", action="store_true", help="store the verdicts in the history and publish them")
    p.add_argument("--no-lag-check", action="store_true", help="judge even if consumer lag cannot be read")
    p.set_defaults(func=_verdict)

    p = sub.add_parser("promote", help="make a challenger the champion (registry in Redis), if its verdict allows")
    _common(p)
    p.add_argument("challenger", nargs="?", default="", help="default: the cheapest challenger with a promote verdict")
    p.add_argument("--force", action="store_true", help="also promote a manual_review verdict (recorded as forced)")
    p.add_argument("--dry-run", action="store_true", help="only print the verdicts")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--canary", action="store_true",
                     help="progressive rollout: the candidate serves each step's share until its gates hold for "
                          "the hold time (`shadow-optic monitor` drives it and rolls back on a failing gate)")
    how.add_argument("--now", action="store_true", help="switch all chat/completion traffic at once (the default)")
    p.add_argument("--steps", default=None, help="with --canary: percents, e.g. 1,5,25,50,100 (default: the "
                                                  "verdict's plan, SHADOW_PROMOTION_CANARY_STEPS)")
    p.add_argument("--hold", default=None, help="with --canary: hold time per step, e.g. 60s, 30m, 2h (default: "
                                                 "SHADOW_PROMOTION_CANARY_STEP_MINUTES)")
    p.add_argument("--actor", default="cli")
    p.add_argument("--no-lag-check", action="store_true")
    p.set_defaults(func=_promote)

    p = sub.add_parser("rollback", help="end a running canary (the champion serves all again); otherwise restore "
                                        "the previous champion (production after the first promotion), or --to NAME")
    _common(p)
    p.add_argument("--to", default=None, help="champion to restore; `production` is the configured upstream")
    p.add_argument("--reason", default="operator rollback")
    p.add_argument("--actor", default="cli")
    p.set_defaults(func=_rollback)

    p = sub.add_parser("history", help="verdicts, promotions and rollbacks with their evidence")
    _common(p)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--kind", default="", choices=["", "verdict", "promote", "rollback", "deploy", "remove",
                                                  "canary", "step", "budget"])
    p.set_defaults(func=_history)

    p = sub.add_parser("costs", help="cost summary, daily trend, hourly, budget alerts, top expensive requests")
    _common(p)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--days", type=int, default=None, help="trend, hourly and top requests over the last N days "
                                                           "(7, 30, 90…; default: everything)")
    p.add_argument("--budget", type=float, default=None, help="this report only: a challenger budget in USD "
                                                               "(per --period)")
    p.add_argument("--set-budget", type=float, default=None, metavar="USD",
                   help="keep a budget per --period in Redis (recorded in the history); the monitor alerts on it")
    p.add_argument("--clear-budget", action="store_true", help="remove the budget kept in Redis")
    p.add_argument("--period", choices=["day", "month"], default=None, help="period of the budget (default: day)")
    p.add_argument("--actor", default="cli")
    p.add_argument("--fail-over-budget", action="store_true", help="exit 1 when a day (or the month) is over budget")
    p.set_defaults(func=_costs)

    p = sub.add_parser("readiness", help="is a challenger (student) ready: pairs, similarity, latency, errors")
    _common(p)
    p.set_defaults(func=_readiness)

    p = sub.add_parser("alerts", help="evaluate drift alerts (thresholds + change detection, hysteresis)")
    _common(p)
    p.add_argument("--no-record", action="store_true", help="do not store the transitions")
    p.add_argument("--fail-on-firing", action="store_true", help="exit 1 while an alert is firing")
    p.set_defaults(func=_alerts)

    p = sub.add_parser("feedback", help="store outcome feedback (JSONL of OutcomeFeedback) or consume shadow.feedback")
    p.add_argument("file", nargs="?", type=Path, default=Path("-"), help="JSONL file, - for standard input")
    p.add_argument("--via-kafka", action="store_true", help="publish to shadow.feedback instead of inserting")
    p.add_argument("--consume", action="store_true", help="store what is waiting on shadow.feedback, then exit")
    p.set_defaults(func=_feedback)
