"""`shadow-optic monitor`: drift and lag alerts, rollout steps and rollbacks, continuously (one acts)."""

from __future__ import annotations

import argparse
import signal

from schemas.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.monitor import Monitor
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(settings)
    update = {k: v for k, v in (("monitor_port", args.port), ("monitor_host", args.host),
                                ("monitor_webhook_url", args.webhook)) if v is not None}
    if args.auto_promote:
        update["auto_promote"] = True
    monitor = Monitor(settings.model_copy(update=update), holder=args.id)
    # SIGTERM ends the loop between checks and gives the lease back: a standby takes over at once.
    signal.signal(signal.SIGTERM, lambda *_: monitor.stop())
    try:
        monitor.run()
    except KeyboardInterrupt:
        monitor.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor", help="watch continuously: drift and lag alerts (webhook, Prometheus), canary "
                                       "steps and automatic rollback, optional auto-promotion; several may run, "
                                       "one acts (lease in Redis)")
    p.add_argument("--port", type=int, default=None, help="health and /metrics port (default: SHADOW_MONITOR_PORT, "
                                                          "0 turns it off)")
    p.add_argument("--host", default=None, help="address for --port (default: SHADOW_MONITOR_HOST)")
    p.add_argument("--webhook", default=None, help="POST alert transitions here (default: SHADOW_MONITOR_WEBHOOK_URL, "
                                                   "then SHADOW_DECISIONS_WEBHOOK_URL)")
    p.add_argument("--auto-promote", action="store_true", help="start a canary when a promote verdict holds for "
                                                               "SHADOW_AUTO_PROMOTE_CHECKS checks")
    p.add_argument("--id", default=None, help="this monitor's name in the lease (default: host:pid:random)")
    p.set_defaults(func=_run)
