"""The pipeline's processes: `sim-model`, `gateway`, `worker`, and the end-to-end `demo`."""

from __future__ import annotations

import argparse
from pathlib import Path

from schemas.settings import Settings


def _sim_model(args: argparse.Namespace, _settings: Settings) -> int:
    from shadow_optic.runners import run_sim_model
    from shadow_optic.sim_model import SimModelConfig

    if args.answers is not None and args.scenario is not None:
        raise SystemExit("sim-model: give --answers or --scenario, not both")
    if args.scenario is None and args.role != "production":
        raise SystemExit("sim-model: --role needs --scenario")
    config = SimModelConfig(model=args.model, answers_file=args.answers, answer_field=args.field,
                            prompt_field=args.prompt_field, scenario_file=args.scenario, role=args.role,
                            judge_file=args.judge_file, latency_ms=args.latency_ms, jitter_ms=args.jitter_ms,
                            error_rate=args.error_rate, refusal_rate=args.refusal_rate, seed=args.seed,
                            rate_limited_rate=args.rate_limited_rate, retry_after_s=args.retry_after_s,
                            embeddings=args.embeddings)
    try:
        run_sim_model(config, args.host, args.port)
    except (ValueError, FileNotFoundError) as exc:  # a bad --answers/--scenario/--role/--judge-file
        raise SystemExit(f"sim-model: {exc}") from exc
    return 0


def _gateway(_args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.runners import run_gateway
    from shadow_optic.stack.launcher import resolve_settings

    run_gateway(resolve_settings(settings))
    return 0


def _worker(_args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.runners import run_worker
    from shadow_optic.stack.launcher import resolve_settings

    run_worker(resolve_settings(settings))
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.demo import DemoOptions, run_demo

    return run_demo(settings, DemoOptions(pairs=args.pairs, scenarios=args.scenario, json_summary=args.json, timeout_s=args.timeout,
                                          keep_stack=args.keep_stack, concurrency=args.concurrency,
                                          limit=args.limit))


def register(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser("sim-model", help="an OpenAI-compatible model server for local runs")
    sim.add_argument("--answers", type=Path,
                     help="JSONL of recorded answers keyed by prompt (e.g. data/paired_responses.jsonl); prompts are "
                          "matched after the gateway's masking, an unknown prompt is HTTP 404")
    sim.add_argument("--field", default="production_response", help="field of the answer in --answers")
    sim.add_argument("--prompt-field", default="prompt")
    sim.add_argument("--scenario", type=Path,
                     help="scenario JSONL (data/scenario_*.jsonl): serve --role's recorded answers by prompt")
    sim.add_argument("--role", default="production",
                     help="with --scenario: production, control (production asked again) or a challenger's model "
                          "name, e.g. gpt-4")
    sim.add_argument("--judge-file", type=Path,
                     help="scenario JSONL or pairs JSONL with rating: also answer the pairwise judge prompt from "
                          "the recorded preferences (no record: HTTP 422)")
    sim.add_argument("--model", default="sim-model")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8101)
    sim.add_argument("--latency-ms", type=float, default=0.0)
    sim.add_argument("--jitter-ms", type=float, default=0.0)
    sim.add_argument("--error-rate", type=float, default=0.0, help="share of requests answered with HTTP 500")
    sim.add_argument("--refusal-rate", type=float, default=0.0, help="share of requests answered with a refusal")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--embeddings", choices=["auto", "local", "hashing"], default="auto",
                     help="/v1/embeddings backend: local all-MiniLM-L6-v2 (extra), hashing (not semantic), "
                          "auto = local if installed")
    sim.add_argument("--rate-limited-rate", type=float, default=0.0, help="share of requests answered with HTTP 429")
    sim.add_argument("--retry-after-s", type=float, default=None, help="Retry-After header sent with each 429")
    sim.set_defaults(func=_sim_model)

    sub.add_parser("gateway", help="run the OpenAI-compatible gateway (SHADOW_GATEWAY_*, SHADOW_PRODUCTION_URL)") \
        .set_defaults(func=_gateway)
    sub.add_parser("worker", help="run the stream agents: replay, scoring, sink (SHADOW_CHALLENGERS)") \
        .set_defaults(func=_worker)

    demo = sub.add_parser("demo", help="the whole pipeline end to end on the local stack, with real data")
    demo.add_argument("--scenario", type=Path, action="append", default=[],
                      help="a JSONL file of the scenario shape (data/README.md): production, control, challengers "
                           "with the judge's preferences; repeatable (default: both scenarios in data/)")
    demo.add_argument("--pairs", type=Path, default=None,
                      help="instead: JSONL with prompt, production_response, challenger_response [, rating] "
                           "(e.g. data/paired_responses.jsonl); no control is recorded there")
    demo.add_argument("--json", action="store_true", help="also print a one-line JSON summary")
    demo.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for every scored row")
    demo.add_argument("--keep-stack", action="store_true", help="leave the stack running afterwards")
    demo.add_argument("--concurrency", type=int, default=8, help="parallel client requests")
    demo.add_argument("--limit", type=int, default=0, help="send only the first N prompts (0 = all)")
    demo.set_defaults(func=_demo)
