"""`shadow-optic demo`: the whole pipeline, end to end, on real data and the real local stack.

Brings the stack up, starts two sim models (production answers and challenger answers from a pairs
file), the worker and the gateway; sends every prompt through the gateway with a real HTTP client;
waits until each (event, challenger) pair is scored in ClickHouse; prints the drift table.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics.drift import drift_windows, scored_rows
from analytics.service import verdicts
from schemas.clickhouse import connect
from schemas.errors import ConfigError, StackError
from schemas.settings import ChallengerConfig, ModelPrice, Settings
from shadow_optic.child_env import settings_env
from shadow_optic.report import drift_table, verdict_table
from shadow_optic.stack.launcher import LocalStack
from shadow_optic.stack.processes import ManagedProcess, free_port, start_process, wait_until

__all__ = ["DemoOptions", "run_demo", "default_pairs_file"]

REPO_ROOT = Path(__file__).resolve().parents[1]
# Shadow traffic is capped like a real provider's quota would require: a sim model saturated by an
# unthrottled replay (hundreds of calls at once) would measure its own queue, not its latency.
DEMO_RATE_LIMIT_RPS = 60.0


class DemoOptions(BaseModel):
    pairs: Path | None = None
    json_summary: bool = False
    timeout_s: float = 300.0
    keep_stack: bool = False
    concurrency: int = 8
    limit: int = 0


class _Pair(BaseModel):
    prompt: str
    production_response: str
    challenger_response: str
    production_model: str = "production"
    challenger_model: str = "challenger"


def default_pairs_file() -> Path:
    candidates = [Path(os.environ["SHADOW_DATA_DIR"]) / "paired_responses.jsonl"] if "SHADOW_DATA_DIR" in os.environ else []
    candidates += [REPO_ROOT.parent / "shared" / "data" / "paired_responses.jsonl",
                   Path.cwd().parent / "shared" / "data" / "paired_responses.jsonl"]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise ConfigError("paired_responses.jsonl not found next to the repository (../shared/data); "
                      "pass --pairs FILE or set SHADOW_DATA_DIR")


def _load_pairs(path: Path, limit: int) -> list[_Pair]:
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    pairs.append(_Pair.model_validate_json(line))
                except ValueError as exc:
                    raise ConfigError(f"{path}:{number} is not a pair (prompt, production_response, "
                                      f"challenger_response): {exc}") from None
    if not pairs:
        raise ConfigError(f"{path} holds no pairs")
    return pairs[:limit] if limit else pairs


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _healthz(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except Exception as exc:  # only for diagnostics
        return {"unreachable": str(exc)}


class _Processes:
    """The demo's own processes; all stopped on exit, whatever happens."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir, self.env, self.started = log_dir, env, []

    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> ManagedProcess:
        marker = f"--demo-run={self.log_dir.name}"
        argv = [sys.executable, "-m", "shadow_optic", *args]
        env = {**self.env, **(extra_env or {}), "SHADOW_DEMO_MARKER": marker}
        process = start_process(name, argv, self.log_dir / f"{name}.log", marker="shadow_optic", env=env,
                                cwd=REPO_ROOT)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            process.stop(timeout_s=10)


async def _send_all(gateway: str, pairs: list[_Pair], concurrency: int, progress: Progress) -> tuple[int, int]:
    """Send every prompt; returns (answers equal to the recorded production answer, failures)."""
    task = progress.add_task("requests through the gateway", total=len(pairs))
    slots = asyncio.Semaphore(concurrency)
    unchanged = failures = 0

    async def one(client: httpx.AsyncClient, pair: _Pair) -> None:
        nonlocal unchanged, failures
        async with slots:
            body = {"model": pair.production_model, "messages": [{"role": "user", "content": pair.prompt}]}
            try:
                response = await client.post(f"{gateway}/v1/chat/completions", json=body,
                                             headers={"X-Shadow-Tenant": "demo"})
                text = response.json()["choices"][0]["message"]["content"]
                unchanged += text == pair.production_response
            except Exception:
                failures += 1
            progress.advance(task)

    async with httpx.AsyncClient(timeout=60) as client:
        await asyncio.gather(*(one(client, pair) for pair in pairs))
    return unchanged, failures


def run_demo(settings: Settings, options: DemoOptions) -> int:
    console = Console(stderr=True)
    began = time.monotonic()
    pairs_file = options.pairs or default_pairs_file()
    pairs = _load_pairs(pairs_file, options.limit)
    stack = LocalStack(settings)
    running_before = {name for name, info in stack.load().services.items()
                      if info.process is not None and info.process.alive()}
    console.print(f"[bold]Shadow-Optic demo[/]: {len(pairs)} prompts from {pairs_file}")
    console.print("bringing the local stack up (Kafka KRaft, Redis, ClickHouse/chDB)…")
    state = stack.up(log=lambda msg: console.print(f"  {msg}"))
    started_services = [name for name, info in state.services.items()
                        if info.process is not None and name not in running_before]
    urls = {name: info.url for name, info in state.services.items()}
    run_id = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    log_dir = settings.state_dir / "demo" / run_id
    production_model = pairs[0].production_model
    challenger_model = pairs[0].challenger_model
    ports = {name: free_port() for name in ("production", "challenger", "gateway")}
    challengers = [
        ChallengerConfig(name=challenger_model, base_url=f"http://127.0.0.1:{ports['challenger']}/v1",
                         model=challenger_model, price=ModelPrice(input_per_1k=0.02, output_per_1k=0.02),
                         rate_limit_rps=DEMO_RATE_LIMIT_RPS),
        # The production model asked again: the noise floor a challenger is judged against.
        ChallengerConfig(name=f"{production_model}-control", base_url=f"http://127.0.0.1:{ports['production']}/v1",
                         model=production_model, control=True, price=ModelPrice(input_per_1k=0.03, output_per_1k=0.06),
                         rate_limit_rps=DEMO_RATE_LIMIT_RPS),
    ]
    run_settings = settings.model_copy(update={
        "kafka_bootstrap": urls["kafka"], "redis_url": urls["redis"], "clickhouse_url": urls["clickhouse"],
        "app_name": run_id, "production_url": f"http://127.0.0.1:{ports['production']}/v1",
        "production_model_rev": "recorded-2023", "gateway_port": ports["gateway"], "challengers": challengers,
        "worker_web_port": free_port(),
        "prices": {production_model: ModelPrice(input_per_1k=0.03, output_per_1k=0.06)},
    })
    env = settings_env(run_settings, {**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    processes = _Processes(log_dir, env)
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    expected = len(pairs) * len(challengers)
    client = None
    try:
        sims = {}
        for role, field, model, latency, jitter in (
                ("production", "production_response", production_model, 60, 30),
                ("challenger", "challenger_response", challenger_model, 35, 15)):
            sims[role] = processes.start(f"sim-{role}", "sim-model", "--answers", str(pairs_file), "--field", field,
                                         "--model", model, "--port", str(ports[role]), "--latency-ms", str(latency),
                                         "--jitter-ms", str(jitter), "--seed", "7")
        worker = processes.start("worker", "worker")
        gateway_process = processes.start("gateway", "gateway")
        for role, process in sims.items():
            wait_until(lambda r=role: _http_ok(f"http://127.0.0.1:{ports[r]}/healthz"), 60, f"sim model ({role})",
                       process)
        wait_until(lambda: _http_ok(f"{gateway}/healthz"), 60, "gateway", gateway_process)
        console.print(f"started sim models, worker and gateway (logs in {log_dir})")

        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console)
        with progress:
            unchanged, failures = asyncio.run(_send_all(gateway, pairs, options.concurrency, progress))
            task = progress.add_task("scored rows in ClickHouse", total=expected)
            client = connect(urls["clickhouse"])
            deadline = time.monotonic() + options.timeout_s
            counts: dict[str, int] = {}
            while True:
                counts = scored_rows(client, app=run_id)
                progress.update(task, completed=sum(counts.values()))
                if sum(counts.values()) >= expected:
                    break
                if not worker.alive():
                    raise StackError(f"the worker exited; last log lines ({worker.log_file}):\n{worker.log_tail()}")
                if time.monotonic() > deadline:
                    raise StackError(_stuck_message(options.timeout_s, expected, counts, gateway, ports, worker))
                time.sleep(0.5)

        windows = drift_windows(client, minutes=5, app=run_id)
        drift_table(windows, 5)
        totals = _totals(client, run_id)
        report = verdicts(client, run_settings, run_id)
        verdict_table(report)
        summary = {"app": run_id, "prompts": len(pairs), "gateway_failures": failures,
                   "answers_unchanged": unchanged, "scored_rows": counts, "per_challenger": totals,
                   "verdicts": report.summary(), "seconds": round(time.monotonic() - began, 1)}
        console.print(f"{len(pairs)} prompts, {unchanged} answers returned unchanged by the gateway, "
                      f"{sum(counts.values())} scored rows in {summary['seconds']}s")
        if options.json_summary:
            print(json.dumps(summary))
        return 0 if failures == 0 and unchanged == len(pairs) else 1
    finally:
        if client is not None:
            client.close()
        processes.stop_all()
        if not options.keep_stack and started_services:
            stack.down(started_services)  # only what this demo started; a stack already up stays up


def _totals(client, app: str) -> dict[str, dict[str, float | int | None]]:
    rows = client.query(
        "SELECT challenger, count(), avgIf(similarity, status = 'ok'), quantileExactIf(0.95)(latency_delta_ms, "
        "status = 'ok'), countIf(refusal_challenger), sum(challenger_cost_usd), sum(production_cost_usd) "
        "FROM shadow_scores FINAL WHERE app = {app:String} GROUP BY challenger ORDER BY challenger",
        parameters={"app": app}).result_rows
    return {r[0]: {"rows": int(r[1]), "mean_similarity": round(float(r[2]), 4), "p95_latency_delta_ms":
                   round(float(r[3]), 1), "refusals": int(r[4]), "challenger_cost_usd": round(float(r[5]), 4),
                   "production_cost_usd": round(float(r[6]), 4)} for r in rows}


def _stuck_message(timeout_s: float, expected: int, counts: dict[str, int], gateway: str, ports: dict[str, int],
                   worker: ManagedProcess) -> str:
    gw = _healthz(f"{gateway}/healthz")
    sims = {role: _healthz(f"http://127.0.0.1:{ports[role]}/healthz") for role in ("production", "challenger")}
    return (f"timed out after {timeout_s:.0f}s with {sum(counts.values())}/{expected} scored rows {counts}. "
            f"gateway publisher: {gw.get('publisher', gw)}; challenger sim saw {sims['challenger'].get('requests')} "
            f"requests, production sim {sims['production'].get('requests')}. If the gateway delivered everything "
            f"but the sims saw few requests, the worker's replay is stuck; if the sims saw them all, scoring or "
            f"the sink is. Worker log ({worker.log_file}):\n{worker.log_tail()}")
