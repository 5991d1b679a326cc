"""`shadow-optic dlq list | redrive`: inspect dead letters and send them back through the pipeline."""

from __future__ import annotations

import argparse
import json

from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.stack.launcher import resolve_settings
    from stream_agents.dead_letters import read_letters, redrive_letters

    settings = resolve_settings(settings)
    if args.action == "list":
        letters = read_letters(settings, limit=args.limit, stage=args.stage, timeout_s=args.timeout)
        for item in letters:
            letter = item.letter
            if args.json:
                print(json.dumps({"dlq_partition": item.partition, "dlq_offset": item.offset,
                                  **letter.model_dump(mode="json", exclude={"value_b64"}),
                                  "bytes": len(letter.original_value())}))
            else:
                print(f"{letter.ts:%Y-%m-%d %H:%M:%S} {letter.stage:<8} {letter.topic}[{letter.partition}]@"
                      f"{letter.offset} ({len(letter.original_value())} B): {letter.reason[:160]}")
        if not args.json:
            print(f"{len(letters)} dead letter(s)")
        return 0
    report = redrive_letters(settings, stage=args.stage, reason_contains=args.reason, dry_run=args.dry_run,
                             force=args.force, timeout_s=args.timeout)
    print(json.dumps(report.model_dump()) if args.json else
          f"read {report.read}, re-driven {report.redriven}{' (dry run)' if args.dry_run else ''}, "
          f"still invalid {report.skipped_invalid}, filtered out {report.skipped_filter}, "
          f"unreadable {report.unreadable}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dlq", help="list or re-drive dead letters (topic shadow.dlq)")
    parser.add_argument("action", choices=["list", "redrive"])
    parser.add_argument("--stage", choices=["replay", "scoring", "sink"], help="only letters of this stage")
    parser.add_argument("--reason", help="redrive: only letters whose reason contains this text")
    parser.add_argument("--limit", type=int, default=0, help="list: only the newest N")
    parser.add_argument("--dry-run", action="store_true", help="redrive: count, send nothing, move no cursor")
    parser.add_argument("--force", action="store_true", help="redrive: also letters that still do not validate")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds to read the topic")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=_run)
