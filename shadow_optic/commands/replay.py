"""`shadow-optic replay`: backfill a new challenger from shadow.requests, by time range or offsets.

Ctrl-C or SIGTERM stops after the batch in flight (its calls are paid for: they are stored, published
and checkpointed); `--resume` goes on from there. A second signal stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime

from schemas.errors import InvalidRequestError, NotFoundError
from schemas.settings import ChallengerConfig, Settings


def _time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO time such as 2026-11-22T10:00:00Z") from None


def _challenger(args: argparse.Namespace, settings: Settings) -> ChallengerConfig:
    for config in settings.challengers:
        if config.name == args.challenger:
            return config
    if not (args.base_url and args.model):
        known = ", ".join(c.name for c in settings.challengers) or "none"
        raise NotFoundError(f"challenger {args.challenger!r} is not in SHADOW_CHALLENGERS (known: {known}); "
                          "add it there or give --base-url and --model")
    return ChallengerConfig(name=args.challenger, base_url=args.base_url, model=args.model)


async def _main(args: argparse.Namespace, settings: Settings) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from stream_agents.backfill import BackfillPlan, parse_offsets, run_backfill

    plan = BackfillPlan(challenger=args.challenger, ts_from=args.from_, ts_to=args.to,
                        offsets=parse_offsets(args.offsets) if args.offsets else None, pinned_to=args.pinned_to,
                        clusters=args.clusters if args.stratified else None, seed=args.seed,
                        budget_usd=args.budget_usd)
    challenger = _challenger(args, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            raise SystemExit(130)
        print("stopping after the batch in flight (signal again to stop now)", file=sys.stderr)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    progress = Progress(TextColumn(f"replay → {challenger.name}"), BarColumn(), MofNCompleteColumn(),
                        TimeRemainingColumn(), disable=args.no_progress or not sys.stderr.isatty(),
                        console=None)
    with progress:
        task = progress.add_task("replay", total=None)
        report = await run_backfill(settings, plan, challenger, resume=args.resume, stop=stop,
                                    on_progress=lambda done, total: progress.update(task, completed=done, total=total))
    print(json.dumps(report.model_dump(mode="json")) if args.json else _summary(report.model_dump()), flush=True)
    if report.finished:
        return 0
    return 130 if report.stopped_reason == "interrupted" else 3


def _summary(report: dict) -> str:
    lines = [f"job {report['job_id']} → {report['challenger']}: "
             f"{'finished' if report['finished'] else 'stopped: ' + str(report['stopped_reason'])}"]
    for key in ("read", "in_time_range", "pinned_excluded", "selected", "already_done_by_checkpoint", "called",
                "reused_stored", "published", "statuses", "cost_usd", "clusters", "reduction"):
        lines.append(f"  {key:<28} {report[key]}")
    return "\n".join(lines)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.stack.launcher import resolve_settings

    if bool(args.from_) != bool(args.to):
        raise InvalidRequestError("--from and --to go together")
    if not args.offsets and not args.from_:
        raise InvalidRequestError("give a time range (--from and --to) or --offsets P:START-END,…")
    if args.offsets and args.from_:
        raise InvalidRequestError("give either a time range or --offsets, not both")
    return asyncio.run(_main(args, resolve_settings(settings)))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("replay", help="backfill a new challenger from shadow.requests (time range or offsets)")
    parser.add_argument("--challenger", required=True, help="name in SHADOW_CHALLENGERS, or with --base-url/--model")
    parser.add_argument("--base-url", default=None, help="OpenAI-compatible base URL of an unlisted challenger")
    parser.add_argument("--model", default=None)
    parser.add_argument("--from", dest="from_", type=_time, default=None, help="record time, inclusive (ISO, UTC)")
    parser.add_argument("--to", type=_time, default=None, help="record time, exclusive (ISO, UTC)")
    parser.add_argument("--offsets", default=None, help="PARTITION:START-END,… (END exclusive)")
    parser.add_argument("--pinned-to", default=None, metavar="EARLIER_CHALLENGER",
                        help="only the events this earlier challenger has rows for in ClickHouse")
    parser.add_argument("--stratified", action="store_true", help="replay only cluster representatives")
    parser.add_argument("--clusters", type=int, default=50, help="k of k-means with --stratified")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget-usd", type=float, default=None, help="stop once the calls cost this much")
    parser.add_argument("--resume", action="store_true", help="go on from this job's checkpoint")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=_run)
