"""Progressive rollout on the real stack: gateways split traffic by the plan in Redis, the monitor
advances steps whose served-traffic gates hold and rolls back a failing candidate; two gateways agree;
drift alerts reach a webhook once per transition; a standby monitor takes over from a dead one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import redis.asyncio as aioredis
from confluent_kafka import Consumer

from analytics.champion import ChampionRegistry
from analytics.rollout import RolloutStore
from schemas.settings import ChallengerConfig, Settings
from shadow_optic.stack.processes import free_port, wait_until
from stream_agents.registry import ChallengerRegistry, registry_prefix
from tests.integration.analytics.synthetic import insert, make_records
from tests.integration.conftest import http_json
from tests.integration.producers.test_gateway_kafka import _start_gateway

pytestmark = pytest.mark.integration


class Traffic:
    """Callers on threads: each request a new sampling key; every answer's status and model is kept."""

    def __init__(self, bases: list[str], threads: int = 2, limit: int | None = None) -> None:
        self.bases, self.limit = bases, limit
        self.answers: list[tuple[float, str, int, str]] = []  # (time, gateway, status, model)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def _next(self) -> int | None:
        with self._lock:
            if self.limit is not None and self._count >= self.limit:
                return None
            self._count += 1
            return self._count

    def _run(self, worker: int) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                n = self._next()
                if n is None:
                    return
                base = self.bases[n % len(self.bases)]
                response = client.post(f"{base}/v1/chat/completions",
                                       headers={"x-shadow-sample-key": f"user-{uuid.uuid4().hex}"},
                                       json={"model": "gpt-4", "messages": [{"role": "user", "content": f"q{n}"}]})
                model = response.json().get("model", "") if response.status_code == 200 else ""
                with self._lock:
                    self.answers.append((time.time(), base, response.status_code, model))

    def __enter__(self) -> "Traffic":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def wait(self) -> None:
        for thread in self._threads:
            thread.join(timeout=600)


def _register(settings: Settings, name: str, base_url: str) -> None:
    async def put() -> None:
        async with aioredis.from_url(settings.redis_url) as client:
            await ChallengerRegistry(client, registry_prefix(settings.topic_prefix)).put(
                ChallengerConfig(name=name, base_url=base_url, model=name))
    asyncio.run(put())


def _health(base_url: str) -> dict:
    return http_json(base_url.removesuffix("/v1") + "/healthz")


def _rollout_settings(settings: Settings, production_url: str) -> Settings:
    return settings.model_copy(update={
        "production_url": production_url, "rollout_poll_s": 0.5, "rollout_stats_flush_s": 0.5,
        "monitor_interval_s": 0.5, "rollout_window_s": 10.0, "rollout_min_requests": 10,
        "monitor_alert_interval_s": 2.0, "lag_check_interval_s": 5.0, "monitor_lease_s": 3.0})


def _start_monitor(processes, settings: Settings, name: str = "monitor", *flags: str) -> str:
    port = free_port()
    process = processes.start(name, settings, "monitor", "--port", str(port), "--id", name, *flags)
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, name, process)
    return base


def _decisions(settings: Settings, kind: str, timeout_s: float = 30.0) -> list[dict]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"reader-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topics.decisions])
    found: list[dict] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not found and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                record = json.loads(message.value())
                if record["kind"] == kind:
                    found.append(record)
    finally:
        consumer.close()
    return found


def test_a_canary_whose_gates_hold_advances_step_by_step_to_a_full_promotion(pipeline_settings, processes,
                                                                               clickhouse):
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4")
    candidate_url, _ = processes.sim_model(pipeline_settings, "cand")
    settings = _rollout_settings(pipeline_settings, production_url)
    _register(settings, "cand", candidate_url)
    gateway = _start_gateway(processes, settings)
    processes.start("worker", settings, "worker")
    monitor = _start_monitor(processes, settings)

    store = RolloutStore.from_url(settings.redis_url, settings.champion_key_prefix)
    plan = store.start(settings.app_name, "cand", "production", [10, 50, 100], hold_s=3)
    steps_seen: set[int] = set()
    with Traffic([gateway]) as traffic:
        def finished() -> bool:
            current = store.get(settings.app_name)
            steps_seen.add(current.step_index)
            return current.state != "running"
        wait_until(finished, 180, "the canary to finish", None)
        time.sleep(2)  # a few answers after the switch
    final = store.get(settings.app_name)
    assert final.state == "completed", final
    assert steps_seen == {0, 1, 2}
    assert ChampionRegistry.from_url(settings.redis_url, settings.champion_key_prefix).current(
        settings.app_name).champion == "cand"
    # Every caller got an answer, from the champion first and the candidate at the end.
    assert traffic.answers and all(status == 200 for _, _, status, _ in traffic.answers)
    assert {model for _, _, _, model in traffic.answers} == {"gpt-4", "cand"}
    assert traffic.answers[-1][3] == "cand"
    # The history holds each step with its figures, and the promotion.
    rows = clickhouse.query("SELECT kind, reason, evidence FROM shadow_decisions WHERE app = {app:String} "
                            "ORDER BY ts", parameters={"app": settings.app_name}).result_rows
    print("history:", *(f"{kind}: {reason}" for kind, reason, _ in rows), sep="\n  ")
    assert [r[0] for r in rows] == ["step", "step", "promote"], rows
    gates = json.loads(rows[0][2])["decision"]["gates"]
    assert {g["name"] for g in gates if g["status"] == "pass"} >= {"error_rate", "p95_latency", "drift_alerts"}
    assert json.loads(rows[0][2])["rollout"]["rollout_id"] == plan.rollout_id
    assert http_json(f"{monitor}/healthz")["role"] == "acting"
    # Requests the candidate served were shadowed to the champion (production) and scored against it.
    def compared() -> bool:
        return clickhouse.command(
            "SELECT count() FROM shadow_scores FINAL WHERE app = {app:String} AND challenger = 'production' "
            "AND production_model = 'cand' AND status = 'ok'", parameters={"app": settings.app_name}) > 0
    wait_until(compared, 90, "candidate-served events compared with the champion", None)


def test_a_candidate_that_starts_failing_is_rolled_back_and_callers_see_only_its_own_errors(
        pipeline_settings, processes):
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4")
    candidate_url, _ = processes.sim_model(pipeline_settings, "cand")
    settings = _rollout_settings(pipeline_settings, production_url)
    _register(settings, "cand", candidate_url)
    gateway = _start_gateway(processes, settings)
    _start_monitor(processes, settings)
    store = RolloutStore.from_url(settings.redis_url, settings.champion_key_prefix)
    plan = store.start(settings.app_name, "cand", "production", [50, 100], hold_s=3600)

    with Traffic([gateway]) as traffic:
        wait_until(lambda: sum(m == "cand" for _, _, _, m in traffic.answers) >= 40, 120, "candidate traffic", None)
        httpx.post(candidate_url.removesuffix("/v1") + "/admin/faults", json={"error_rate": 0.5}).raise_for_status()
        failing_since = time.time()
        wait_until(lambda: store.get(settings.app_name).state == "rolled_back", 60, "the rollback", None)
        rolled_back_at = time.time()
        time.sleep(3)  # gateways follow within a poll; then only the champion answers
    print(f"candidate failing from {failing_since:.1f}: rolled back {rolled_back_at - failing_since:.1f}s later "
          f"(limit 30 s); {len(traffic.answers)} requests")
    assert rolled_back_at - failing_since <= 30.0
    after = [a for a in traffic.answers if a[0] > rolled_back_at + 1.5]
    assert after and all(status == 200 and model == "gpt-4" for _, _, status, model in after)
    # Every error a caller saw is one the candidate produced; production produced none.
    caller_errors = sum(status != 200 for _, _, status, _ in traffic.answers)
    assert caller_errors == _health(candidate_url)["errors"] > 0
    assert _health(production_url)["errors"] == 0
    # The decision, with its figures and thresholds, is on shadow.decisions.
    records = _decisions(settings, "rollback")
    assert records, "no rollback on shadow.decisions"
    evidence = records[0]["evidence"]
    assert evidence["rollout"]["rollout_id"] == plan.rollout_id and evidence["rollout"]["state"] == "rolled_back"
    failed = [g for g in evidence["decision"]["gates"] if g["status"] == "fail"]
    assert any(g["name"] == "error_rate" and g["candidate"] > g["threshold"] for g in failed), failed
    print(f"decision on shadow.decisions: {records[0]['reason']}")
    assert "error rate" in records[0]["reason"] and records[0]["actor"] == "monitor"


def test_two_gateways_follow_one_plan_and_split_within_two_points(pipeline_settings, processes):
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4")
    candidate_url, _ = processes.sim_model(pipeline_settings, "cand")
    settings = _rollout_settings(pipeline_settings, production_url)
    _register(settings, "cand", candidate_url)
    gateways = [_start_gateway(processes, settings, "gateway-1"), _start_gateway(processes, settings, "gateway-2")]
    store = RolloutStore.from_url(settings.redis_url, settings.champion_key_prefix)
    plan = store.start(settings.app_name, "cand", "production", [25, 100], hold_s=3600)
    wait_until(lambda: all((http_json(f"{g}/healthz")["rollout"] or {}).get("rollout_id") == plan.rollout_id
                           for g in gateways), 10, "both gateways to follow the plan", None)
    total = 8000  # 4,000 per gateway: a binomial standard deviation of 0.68 points at 25 %
    traffic = Traffic(gateways, threads=4, limit=total)
    with traffic:
        traffic.wait()
    assert len(traffic.answers) == total and all(status == 200 for _, _, status, _ in traffic.answers)
    for gateway in gateways:
        mine = [model for _, base, _, model in traffic.answers if base == gateway]
        share = sum(model == "cand" for model in mine) / len(mine)
        print(f"{gateway}: {len(mine)} requests, candidate share {share:.4f} (step 25 %)")
        assert abs(share - 0.25) <= 0.02
    overall = sum(model == "cand" for _, _, _, model in traffic.answers) / total
    print(f"both gateways: {total} requests, candidate share {overall:.4f}")
    assert abs(overall - 0.25) <= 0.02


class _Webhook:
    def __init__(self) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                hook.received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def states(self, subject: str, rule: str) -> list[str]:
        return [r["state"] for r in self.received if r.get("subject") == subject and r.get("rule") == rule]


def test_a_drift_alert_fires_once_and_clears_once_across_a_monitor_handover(pipeline_settings, processes,
                                                                              clickhouse):
    hook = _Webhook()
    settings = _rollout_settings(pipeline_settings, "http://127.0.0.1:9/v1").model_copy(update={
        "alert_window_minutes": 1, "alert_fire_after": 2, "alert_clear_after": 2, "monitor_alert_interval_s": 1.0,
        "monitor_webhook_url": hook.url})
    monitors = {name: _start_monitor(processes, settings, name) for name in ("monitor-a", "monitor-b")}
    wait_until(lambda: sorted(http_json(f"{m}/healthz")["role"] for m in monitors.values()) == ["acting", "standby"],
               20, "one acting monitor and one standby", None)
    acting = next(n for n, m in monitors.items() if http_json(f"{m}/healthz")["role"] == "acting")
    standby = next(n for n in monitors if n != acting)

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    insert(clickhouse, make_records(settings.app_name, "drifty", 240, seed=1, shift=-0.6, hours=4 / 60,
                                    start=now - timedelta(minutes=12)))
    wait_until(lambda: hook.states("drifty", "delta_s") == ["firing"], 60, "the drift alert to fire", None)
    gauges = httpx.get(f"{monitors[acting]}/metrics").text
    assert 'shadow_optic_alert_firing{kind="drift_alert",rule="delta_s",subject="drifty"} 1.0' in gauges

    # The acting monitor dies without giving its lease back: the standby takes over when it expires.
    process = next(p for p in processes.processes if p.name == acting)
    os.kill(process.pid, signal.SIGKILL)
    wait_until(lambda: http_json(f"{monitors[standby]}/healthz")["role"] == "acting", 30, "the handover", None)

    insert(clickhouse, [r.model_copy(update={"event_id": r.event_id + "-good"}) for r in
                        make_records(settings.app_name, "drifty", 240, seed=2, hours=4 / 60,
                                     start=now - timedelta(minutes=7))])
    wait_until(lambda: hook.states("drifty", "delta_s") == ["firing", "cleared"], 60, "the alert to clear", None)
    time.sleep(3)  # more checks: nothing is sent twice
    assert hook.states("drifty", "delta_s") == ["firing", "cleared"]
    for record in hook.received:  # every alert fires once and clears once at most
        states = hook.states(record["subject"], record["rule"])
        assert states in (["firing"], ["firing", "cleared"]), (record["rule"], states)
    hook.server.shutdown()
