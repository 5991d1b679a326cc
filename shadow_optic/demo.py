"""`shadow-optic demo`: the whole pipeline, end to end, on real data and the real local stack.

For each scenario (by default both in data/: upgrade text-davinci-003, replace GPT-4) it starts one
sim model per role replaying recorded answers (production, the control = production asked again, one
per challenger) and a recorded judge (the GPT-4 judge's real preferences), the worker and the
gateway; sends every prompt through the gateway with a real HTTP client, tagged with its AlpacaEval
subset as the tenant; waits until each (event, challenger) pair is scored in ClickHouse; prints the
drift table and the verdicts, which answer both questions: quality and equivalence.
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
from typing import Literal

import httpx
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from analytics.scope import Scope, one_scorer_version
from analytics.service import verdicts
from analytics.windows import DriftQuery, drift
from infra.clickhouse import connect
from schemas.errors import ConfigError, StackError
from schemas.settings import ChallengerConfig, Settings
from shadow_optic.child_env import settings_env
from shadow_optic.data_files import data_file
from shadow_optic.report import drift_table, slice_table, verdict_table
from shadow_optic.stack.launcher import LocalStack
from shadow_optic.stack.processes import ManagedProcess, free_port, start_process, wait_until

__all__ = ["DemoOptions", "DemoScenario", "run_demo", "load_scenario", "load_pairs_scenario", "default_scenarios"]

REPO_ROOT = Path(__file__).resolve().parents[1]
# Shadow traffic is capped like a real provider's quota would require: a sim model saturated by an
# unthrottled replay (hundreds of calls at once) would measure its own queue, not its latency.
DEMO_RATE_LIMIT_RPS = 60.0


# Demo-sized gates, printed with the verdicts: a demo has minutes of traffic and ~400 prompts, where a
# deployment would want 1,000 pairs over a full day.
DEMO_MIN_SAMPLES = 300
DEMO_DIURNAL_HOURS = 0.0
JUDGE_MODEL = "gpt-4-alpaca-eval-recorded"  # the sim judge replays AlpacaEval's GPT-4 judge


class DemoOptions(BaseModel):
    pairs: Path | None = None
    scenarios: list[Path] = []
    json_summary: bool = False
    timeout_s: float = 300.0
    keep_stack: bool = False
    concurrency: int = 8
    limit: int = 0


class DemoPrompt(BaseModel):
    id: str = ""
    prompt: str
    production_response: str

    @property
    def tenant(self) -> str:
        """The AlpacaEval subset (`alpaca_eval:<subset>:<n>`), so the per-slice table shows real slices."""
        parts = self.id.split(":")
        return parts[1] if len(parts) == 3 else "demo"


class DemoScenario(BaseModel):
    """What the demo replays: production, its control (if recorded), the challengers, the judge's records."""

    name: str
    source: Path
    kind: Literal["scenario", "pairs"]
    production_model: str
    control_model: str | None
    challengers: list[str]
    judged: bool  # the file carries the judge's preferences
    prompts: list[DemoPrompt]


def default_scenarios() -> list[Path]:
    return [data_file("scenario_upgrade_davinci.jsonl"), data_file("scenario_replace_gpt4.jsonl")]


def _rows(path: Path) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    with open(path, encoding="utf-8") as handle:
        rows = []
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except ValueError as exc:
                    raise ConfigError(f"{path}:{number} is not JSON: {exc}") from None
    if not rows:
        raise ConfigError(f"{path} holds no rows")
    return rows


def load_scenario(path: Path, limit: int = 0) -> DemoScenario:
    """A file of the scenario shape (data/README.md): production, control, challengers with judge verdicts."""
    rows = _rows(path)
    prompts: list[DemoPrompt] = []
    challengers: list[str] = []
    for number, row in rows:
        try:
            prompts.append(DemoPrompt(id=row.get("id", ""), prompt=row["prompt"],
                                      production_response=row["production"]["response"]))
            models = [c["model"] for c in row["challengers"]]
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{number} is not a scenario row (prompt, production, control, challengers): "
                              f"missing {exc}") from None
        challengers = challengers or models
    first = rows[0][1]
    control = (first.get("control") or {}).get("model")
    judged = any((c.get("judge") or {}).get("preferred") for c in first["challengers"])
    name = path.stem.removeprefix("scenario_")
    return DemoScenario(name=name, source=path, kind="scenario", production_model=first["production"]["model"],
                        control_model=control, challengers=challengers, judged=judged,
                        prompts=prompts[:limit] if limit else prompts)


def load_pairs_scenario(path: Path, limit: int = 0) -> DemoScenario:
    """A pairs file (prompt, production_response, challenger_response [, rating]): no control recorded."""
    rows = _rows(path)
    prompts = []
    for number, row in rows:
        if not all(isinstance(row.get(k), str) for k in ("prompt", "production_response", "challenger_response")):
            raise ConfigError(f"{path}:{number} is not a pair: it needs the text fields prompt, production_response "
                              "and challenger_response")
        prompts.append(DemoPrompt(id=row.get("id", ""), prompt=row["prompt"],
                                  production_response=row["production_response"]))
    first = rows[0][1]
    return DemoScenario(name=path.stem, source=path, kind="pairs",
                        production_model=first.get("production_model", "production"), control_model=None,
                        challengers=[first.get("challenger_model", "challenger")],
                        judged="rating" in first, prompts=prompts[:limit] if limit else prompts)


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


async def _send_all(gateway: str, model: str, pairs: list[DemoPrompt], concurrency: int,
                    progress: Progress) -> tuple[int, int]:
    """Send every prompt; returns (answers equal to the recorded production answer, failures)."""
    task = progress.add_task("requests through the gateway", total=len(pairs))
    slots = asyncio.Semaphore(concurrency)
    unchanged = failures = 0

    async def one(client: httpx.AsyncClient, pair: DemoPrompt) -> None:
        nonlocal unchanged, failures
        async with slots:
            body = {"model": model, "messages": [{"role": "user", "content": pair.prompt}]}
            try:
                response = await client.post(f"{gateway}/v1/chat/completions", json=body,
                                             headers={"X-Shadow-Tenant": pair.tenant})
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
    if options.pairs is not None:
        scenarios = [load_pairs_scenario(options.pairs, options.limit)]
    else:
        scenarios = [load_scenario(path, options.limit) for path in options.scenarios or default_scenarios()]
    stack = LocalStack(settings)
    running_before = {name for name, info in stack.load().services.items()
                      if info.process is not None and info.process.alive()}
    console.print("[bold]Shadow-Optic demo[/]: " + "; ".join(
        f"{sc.name}: {len(sc.prompts)} prompts, production {sc.production_model}, challengers "
        f"{', '.join(sc.challengers)}" for sc in scenarios))
    console.print("bringing the local stack up (Kafka KRaft, Redis, ClickHouse/chDB)…")
    state = stack.up(log=lambda msg: console.print(f"  {msg}"))
    started_services = [name for name, info in state.services.items()
                        if info.process is not None and name not in running_before]
    urls = {name: info.url for name, info in state.services.items()}
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    results: dict[str, dict] = {}
    ok = True
    try:
        for scenario in scenarios:
            summary = _run_scenario(settings, scenario, urls, f"demo-{scenario.name}-{stamp}", options, console)
            results[scenario.name] = summary
            ok = ok and summary["gateway_failures"] == 0 and summary["answers_unchanged"] == len(scenario.prompts)
    finally:
        if not options.keep_stack and started_services:
            stack.down(started_services)  # only what this demo started; a stack already up stays up
    seconds = round(time.monotonic() - began, 1)
    console.print(f"{sum(len(sc.prompts) for sc in scenarios)} prompts in {len(scenarios)} scenario(s), "
                  f"{seconds}s in all")
    if options.json_summary:
        verdicts_by_model = {model: v for r in results.values() for model, v in r["verdicts"].items()}
        print(json.dumps({"verdicts": verdicts_by_model, "scenarios": results, "seconds": seconds}))
    return 0 if ok else 1


def _sim_args(scenario: DemoScenario, role: str) -> list[str]:
    """How a sim model replays `role` (production, control or a challenger's model) of the scenario."""
    if scenario.kind == "pairs":
        field = "production_response" if role == "production" else "challenger_response"
        return ["--answers", str(scenario.source), "--field", field]
    return ["--scenario", str(scenario.source), "--role", role]


def _run_scenario(settings: Settings, scenario: DemoScenario, urls: dict[str, str], run_id: str,
                  options: DemoOptions, console: Console) -> dict:
    log_dir = settings.state_dir / "demo" / run_id
    roles = ["production", *(["control"] if scenario.control_model else []), *scenario.challengers]
    ports = {role: free_port() for role in [*roles, "judge", "gateway"]}
    base = {role: f"http://127.0.0.1:{ports[role]}/v1" for role in ports}
    challengers = [ChallengerConfig(name=model, base_url=base[model], model=model, rate_limit_rps=DEMO_RATE_LIMIT_RPS)
                   for model in scenario.challengers]
    if scenario.control_model:
        # The production model asked again (its recorded second answers): the real noise floor.
        challengers.append(ChallengerConfig(name=f"{scenario.production_model}-control", base_url=base["control"],
                                            model=scenario.control_model, control=True,
                                            rate_limit_rps=DEMO_RATE_LIMIT_RPS))
    judge: dict = {}
    if scenario.judged:
        gpt4 = settings.price_of("gpt-4")
        judge = {"judge_base_url": base["judge"], "judge_model": JUDGE_MODEL, "judge_mode": "pairwise",
                 "judge_sample_ratio": 1.0, "judge_rps": 400.0, "judge_burst": 100, "judge_concurrency": 32,
                 "judge_price_input_per_1k": gpt4.input_per_1k, "judge_price_output_per_1k": gpt4.output_per_1k}
    run_settings = settings.model_copy(update={
        "kafka_bootstrap": urls["kafka"], "redis_url": urls["redis"], "clickhouse_url": urls["clickhouse"],
        # Own topics, consumer group and challenger registry per scenario: nothing of one run leaks into the next.
        "topic_prefix": f"{run_id}.", "consumer_group": run_id,
        "app_name": run_id, "production_url": base["production"], "production_model_rev": "recorded-2023",
        "gateway_port": ports["gateway"], "challengers": challengers, "worker_web_port": free_port(),
        "promotion_min_samples": min(DEMO_MIN_SAMPLES, len(scenario.prompts)),
        "promotion_diurnal_hours": DEMO_DIURNAL_HOURS, **judge,
    })
    console.print(f"\n[bold]scenario {scenario.name}[/] ({scenario.source.name}): demo-sized gates "
                  f"{run_settings.promotion_min_samples} samples, {DEMO_DIURNAL_HOURS:g} h diurnal coverage "
                  f"(defaults {Settings.model_fields['promotion_min_samples'].default} and "
                  f"{Settings.model_fields['promotion_diurnal_hours'].default:g} h); "
                  + (f"judge: recorded GPT-4 preferences, both orders, as {JUDGE_MODEL}" if scenario.judged
                     else "no judge records: equivalence only"))
    env = settings_env(run_settings, {**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    processes = _Processes(log_dir, env)
    gateway = f"http://127.0.0.1:{ports['gateway']}"
    expected = len(scenario.prompts) * len(challengers)
    client = None
    try:
        sims = {}
        for role in roles:
            latency, jitter = (60, 30) if role in ("production", "control") else (35, 15)
            model = {"production": scenario.production_model, "control": scenario.control_model}.get(role, role)
            sims[role] = processes.start(f"sim-{role}", "sim-model", *_sim_args(scenario, role), "--model",
                                         str(model), "--port", str(ports[role]), "--latency-ms", str(latency),
                                         "--jitter-ms", str(jitter), "--seed", "7")
        if scenario.judged:
            sims["judge"] = processes.start("sim-judge", "sim-model", "--judge-file", str(scenario.source),
                                            "--model", JUDGE_MODEL, "--port", str(ports["judge"]))
        worker = processes.start("worker", "worker")
        gateway_process = processes.start("gateway", "gateway")
        for role, process in sims.items():
            wait_until(lambda r=role: _http_ok(f"http://127.0.0.1:{ports[r]}/healthz"), 60, f"sim model ({role})",
                       process)
        wait_until(lambda: _http_ok(f"{gateway}/healthz"), 60, "gateway", gateway_process)
        console.print(f"started {len(sims)} sim models, worker and gateway (logs in {log_dir})")

        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console)
        with progress:
            unchanged, failures = asyncio.run(_send_all(gateway, scenario.production_model, scenario.prompts,
                                                        options.concurrency, progress))
            task = progress.add_task("scored rows in ClickHouse", total=expected)
            client = connect(urls["clickhouse"])
            deadline = time.monotonic() + options.timeout_s
            counts: dict[str, int] = {}
            while True:
                counts = _scored_rows(client, run_id)
                progress.update(task, completed=sum(counts.values()))
                if sum(counts.values()) >= expected:
                    break
                if not worker.alive():
                    raise StackError(f"the worker exited; last log lines ({worker.log_file}):\n{worker.log_tail()}")
                if time.monotonic() > deadline:
                    raise StackError(_stuck_message(options.timeout_s, expected, counts, gateway, ports, worker))
                time.sleep(0.5)

        scope = Scope(app=run_id, scorer_version=one_scorer_version(client, run_id))
        drift_table(drift(client, DriftQuery(scope=scope, minutes=5, source="exact")), 5)
        report = verdicts(client, run_settings, run_id)
        verdict_table(report)
        slice_table(report)
        judge_health = _healthz(f"http://127.0.0.1:{ports['judge']}/healthz") if scenario.judged else {}
        return {"app": run_id, "prompts": len(scenario.prompts), "gateway_failures": failures,
                "answers_unchanged": unchanged, "scored_rows": counts, "per_challenger": _totals(client, run_id),
                "gates": {"min_samples": run_settings.promotion_min_samples, "diurnal_hours": DEMO_DIURNAL_HOURS},
                "recommended": report.recommended, "verdicts": report.summary(),
                "judge": {"model": JUDGE_MODEL, "answered": judge_health.get("judged"),
                          "no_record": judge_health.get("judge_unknown")} if scenario.judged else None}
    finally:
        if client is not None:
            client.close()
        processes.stop_all()


def _scored_rows(client, app: str) -> dict[str, int]:
    """Distinct scored (event, challenger) pairs per challenger."""
    result = client.query("SELECT challenger, count() FROM shadow_scores FINAL WHERE app = {app:String} "
                          "GROUP BY challenger", parameters={"app": app})
    return {challenger: int(n) for challenger, n in result.result_rows}


def _totals(client, app: str) -> dict[str, dict[str, float | int | None]]:
    rows = client.query(
        "SELECT challenger, count(), avgIf(similarity, status = 'ok'), quantileExactIf(0.95)(latency_delta_ms, "
        "status = 'ok'), countIf(refusal_challenger), sum(challenger_cost_usd), sum(production_cost_usd), "
        "countIf(status != 'ok') FROM shadow_scores FINAL WHERE app = {app:String} GROUP BY challenger "
        "ORDER BY challenger", parameters={"app": app}).result_rows

    def rounded(value, digits: int) -> float | None:
        return None if value is None or value != value else round(float(value), digits)

    return {r[0]: {"rows": int(r[1]), "not_ok": int(r[7]), "mean_similarity": rounded(r[2], 4),
                   "p95_latency_delta_ms": rounded(r[3], 1), "refusals": int(r[4]),
                   "challenger_cost_usd": round(float(r[5]), 4), "production_cost_usd": round(float(r[6]), 4)}
            for r in rows}


def _stuck_message(timeout_s: float, expected: int, counts: dict[str, int], gateway: str, ports: dict[str, int],
                   worker: ManagedProcess) -> str:
    gw = _healthz(f"{gateway}/healthz")
    sims = {role: _healthz(f"http://127.0.0.1:{port}/healthz").get("requests") for role, port in ports.items()
            if role != "gateway"}
    return (f"timed out after {timeout_s:.0f}s with {sum(counts.values())}/{expected} scored rows {counts}. "
            f"gateway publisher: {gw.get('publisher', gw)}; requests each sim model saw: {sims}. If the gateway delivered everything "
            f"but the sims saw few requests, the worker's replay is stuck; if the sims saw them all, scoring or "
            f"the sink is. Worker log ({worker.log_file}):\n{worker.log_tail()}")
