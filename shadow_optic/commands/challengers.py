"""`shadow-optic challengers list | add | remove`: the run-time challenger registry in Redis.

Workers follow the registry within SHADOW_REGISTRY_REFRESH_S; nothing restarts.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import json
import os

from infra.redis_clients import redis_options
from schemas.errors import ConfigError, InvalidRequestError, NotFoundError
from schemas.settings import ChallengerConfig, Settings


def _config_from_args(args: argparse.Namespace) -> ChallengerConfig:
    if args.json_config:
        return ChallengerConfig.model_validate_json(args.json_config)
    if not (args.name and args.base_url and args.model):
        raise InvalidRequestError("challengers add needs NAME --base-url URL --model MODEL (or --json '{...}')")
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if api_key is None:
            raise ConfigError(f"--api-key-env {args.api_key_env}: that variable is not set")
    return ChallengerConfig(
        name=args.name, base_url=args.base_url, model=args.model, kind=args.kind, timeout_s=args.timeout,
        api_key=api_key, control=args.control, rate_limit_rps=args.rps, rate_limit_burst=args.burst,
        budget_usd=args.budget_usd, budget_period=args.budget_period, allocation_share=args.share,
        price={"input_per_1k": args.input_price, "output_per_1k": args.output_price})


async def _act(args: argparse.Namespace, settings: Settings) -> int:
    import redis.asyncio as aioredis

    from stream_agents.allowed_hosts import AllowedHosts
    from stream_agents.registry import ChallengerRegistry, registry_prefix

    if not settings.redis_url:
        raise ConfigError("no Redis: set SHADOW_REDIS_URL or start the local stack (`shadow-optic stack up`)")
    async with aioredis.Redis.from_url(settings.redis_url,
                                       **redis_options(settings.redis_url, settings.redis_security)) as client:
        registry = ChallengerRegistry(client, registry_prefix(settings.topic_prefix), AllowedHosts.from_settings(settings))
        if args.action == "list":
            version, configs = await registry.view(settings.challengers)  # read only: what a worker starts with
            if args.json_config is not None:
                print(json.dumps([c.model_dump(mode="json") for c in configs]))
                return 0
            print(f"registry version {version}: {len(configs)} challenger(s)")
            for c in configs:
                limit = f"{c.rate_limit_rps:g}/s" if c.rate_limit_rps else "unlimited"
                budget = f"${c.budget_usd:g}/{c.budget_period}" if c.budget_usd is not None else "no budget"
                print(f"  {c.name:<20} {c.kind:<10} {c.model:<24} {c.base_url}  timeout {c.timeout_s:g}s  "
                      f"{limit}  {budget}{'  [control]' if c.control else ''}")
            return 0
        if args.action == "add":
            config = _config_from_args(args)
            await registry.seed(settings.challengers)
            await registry.put(config)
            print(f"added {config.name} (registry version {await registry.version()})")
            _record(settings, "deploy", config.name, "deployed", config.model_dump(mode="json", exclude={"api_key"}))
            return 0
        if not args.name:
            raise InvalidRequestError("challengers remove needs NAME")
        await registry.seed(settings.challengers)
        if not await registry.remove(args.name):
            raise NotFoundError(f"no challenger named {args.name!r} in the registry")
        print(f"removed {args.name} (registry version {await registry.version()})")
        _record(settings, "remove", args.name, "removed", {})
        if any(c.name == args.name for c in settings.challengers):
            print(f"note: {args.name} is listed in SHADOW_CHALLENGERS; it stays removed until its entry there "
                  "is edited (then that edit is applied): remove it there too", file=sys.stderr)
        return 0


def _record(settings: Settings, kind: str, name: str, verdict: str, evidence: dict) -> None:
    """The change in the history with who made it (the OS user running the CLI); a store outage only warns."""
    import getpass

    from analytics.history import new_decision, record_decision
    from infra.clickhouse import connect

    who = f"{getpass.getuser()}@cli"
    record = new_decision(settings.app_name, kind, name, verdict, f"{kind} with the CLI by {who}", evidence=evidence,
                          actor=who)
    try:
        client = connect(settings.clickhouse_url, settings.clickhouse_security)
        try:
            record_decision(client, settings, record)
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - the registry changed; say the history did not record it
        print(f"warning: the {kind} of {name} is done but not recorded in the history: {exc}", file=sys.stderr)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.stack.launcher import resolve_settings

    return asyncio.run(_act(args, resolve_settings(settings)))


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("challengers", help="list, add (or change) and remove challengers at run time")
    parser.add_argument("action", choices=["list", "add", "remove"])
    parser.add_argument("name", nargs="?")
    parser.add_argument("--base-url", help="OpenAI-compatible base URL (json kind: the full URL)")
    parser.add_argument("--model")
    parser.add_argument("--kind", choices=["chat", "completion", "json"], default="chat")
    parser.add_argument("--timeout", type=float, default=30.0, help="per-call timeout, seconds")
    parser.add_argument("--rps", type=float, default=None, help="rate limit across all workers (calls/s)")
    parser.add_argument("--burst", type=int, default=1)
    parser.add_argument("--budget-usd", type=float, default=None, help="spend cap per --budget-period")
    parser.add_argument("--budget-period", choices=["hour", "day", "month"], default="day")
    parser.add_argument("--input-price", type=float, default=0.0, help="USD per 1k prompt tokens")
    parser.add_argument("--output-price", type=float, default=0.0, help="USD per 1k completion tokens")
    parser.add_argument("--share", type=float, default=1.0, help="weight in a fixed split of a shared budget")
    parser.add_argument("--control", action="store_true", help="the production model asked again (noise floor)")
    parser.add_argument("--api-key-env", help="name of the variable that holds the API key")
    parser.add_argument("--json", dest="json_config", nargs="?", const="", default=None,
                        help="add: a whole ChallengerConfig as JSON; list: print JSON")
    parser.set_defaults(func=_run)
