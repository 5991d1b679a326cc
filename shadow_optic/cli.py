"""The `shadow-optic` command. Settings come from SHADOW_* variables, built here and passed down."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from schemas.errors import ShadowOpticError
from schemas.settings import Settings

__all__ = ["main"]


def _settings() -> Settings:
    return Settings()


def _cmd_stack(args: argparse.Namespace) -> int:
    from shadow_optic.stack.launcher import LocalStack

    stack = LocalStack(_settings())
    if args.action == "up":
        state = stack.up(timeout_s=args.timeout)
        for name, info in state.services.items():
            print(f"{name}={info.url}")
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing (no process of ours was running)"))
    else:
        print("\n".join(stack.status()))
    return 0


def _cmd_sim_model(args: argparse.Namespace) -> int:
    from shadow_optic.runners import run_sim_model
    from shadow_optic.sim_model import SimModelConfig

    config = SimModelConfig(model=args.model, answers_file=args.answers, answer_field=args.field,
                            prompt_field=args.prompt_field, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                            error_rate=args.error_rate, refusal_rate=args.refusal_rate, seed=args.seed)
    run_sim_model(config, args.host, args.port)
    return 0


def _cmd_gateway(_args: argparse.Namespace) -> int:
    from shadow_optic.runners import run_gateway
    from shadow_optic.stack.launcher import resolve_settings

    run_gateway(resolve_settings(_settings()))
    return 0


def _cmd_worker(_args: argparse.Namespace) -> int:
    from shadow_optic.runners import run_worker
    from shadow_optic.stack.launcher import resolve_settings

    run_worker(resolve_settings(_settings()))
    return 0


def _cmd_drift(args: argparse.Namespace) -> int:
    from analytics.drift import drift_windows
    from schemas.clickhouse import connect
    from shadow_optic.report import drift_table
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(_settings())
    client = connect(settings.clickhouse_url)
    windows = drift_windows(client, minutes=args.minutes, app=args.app, scorer_version=args.scorer_version)
    if args.json:
        print(json.dumps([w.model_dump(mode="json") for w in windows]))
    else:
        drift_table(windows, args.minutes)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from shadow_optic.demo import DemoOptions, run_demo

    return run_demo(_settings(), DemoOptions(pairs=args.pairs, json_summary=args.json, timeout_s=args.timeout,
                                             keep_stack=args.keep_stack, concurrency=args.concurrency,
                                             limit=args.limit))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shadow-optic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="start, stop or show the local Kafka, Redis and ClickHouse")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each service")
    stack.set_defaults(func=_cmd_stack)

    sim = sub.add_parser("sim-model", help="an OpenAI-compatible model server for local runs")
    sim.add_argument("--answers", type=Path, help="JSONL of recorded answers keyed by prompt")
    sim.add_argument("--field", default="production_response", help="field of the answer in --answers")
    sim.add_argument("--prompt-field", default="prompt")
    sim.add_argument("--model", default="sim-model")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8101)
    sim.add_argument("--latency-ms", type=float, default=0.0)
    sim.add_argument("--jitter-ms", type=float, default=0.0)
    sim.add_argument("--error-rate", type=float, default=0.0)
    sim.add_argument("--refusal-rate", type=float, default=0.0)
    sim.add_argument("--seed", type=int, default=0)
    sim.set_defaults(func=_cmd_sim_model)

    sub.add_parser("gateway", help="run the OpenAI-compatible gateway (SHADOW_GATEWAY_*, SHADOW_PRODUCTION_URL)") \
        .set_defaults(func=_cmd_gateway)
    sub.add_parser("worker", help="run the stream agents: replay, scoring, sink (SHADOW_CHALLENGERS)") \
        .set_defaults(func=_cmd_worker)

    drift = sub.add_parser("drift", help="windowed drift per challenger from ClickHouse")
    drift.add_argument("--minutes", type=int, default=5)
    drift.add_argument("--app", default="", help="only this app (the gateway's SHADOW_APP_NAME)")
    drift.add_argument("--scorer-version", default="")
    drift.add_argument("--json", action="store_true")
    drift.set_defaults(func=_cmd_drift)

    demo = sub.add_parser("demo", help="the whole pipeline end to end on the local stack, with real data")
    demo.add_argument("--pairs", type=Path, default=None,
                      help="JSONL with prompt, production_response, challenger_response "
                           "(default: shared/data/paired_responses.jsonl)")
    demo.add_argument("--json", action="store_true", help="also print a one-line JSON summary")
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every scored row")
    demo.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    demo.add_argument("--concurrency", type=int, default=16, help="parallel client requests")
    demo.add_argument("--limit", type=int, default=0, help="send only the first N prompts (0 = all)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except ShadowOpticError as exc:
        print(f"shadow-optic: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"shadow-optic: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
