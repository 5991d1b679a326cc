"""`shadow-optic stack up | down | status`."""

from __future__ import annotations

import argparse

from infra.clickhouse import redact_url
from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.stack.launcher import LocalStack

    stack = LocalStack(settings, secure=args.secure)
    if args.action == "up":
        state = stack.up(timeout_s=args.timeout)
        for name, info in state.services.items():
            print(f"{name}={redact_url(info.url)}")  # an external URL may carry user:password@
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing (no process of ours was running)"))
    else:
        print("\n".join(stack.status()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("stack", help="start, stop or show the local Kafka, Redis and ClickHouse")
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each service")
    parser.add_argument("--secure", action="store_true",
                        help="up: Kafka with a SASL_SSL listener (SCRAM users, a local CA made under the state "
                             "directory) and Redis with a password; clients find the credentials by themselves")
    parser.set_defaults(func=_run)
