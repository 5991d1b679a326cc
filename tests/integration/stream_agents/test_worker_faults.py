"""Faults on the real stack: a worker killed mid-stream, a sick challenger, a limit shared by two workers."""

from __future__ import annotations

import os
import signal
import time

import pytest

from shadow_optic.stack.processes import free_port, wait_until
from tests.integration.conftest import challenger, http_json, wait_for_rows
from tests.integration.stream_agents.helpers import get_text, make_event, metric, post_json, publish, rows

pytestmark = pytest.mark.integration


def test_a_worker_killed_mid_stream_loses_nothing_duplicates_nothing_and_calls_nobody_twice(
        pipeline_settings, processes, clickhouse):
    url, _ = processes.sim_model(pipeline_settings, "davinci", "--latency-ms", "150")
    health = url.removesuffix("/v1") + "/healthz"
    settings = pipeline_settings.model_copy(update={
        "challengers": [challenger("davinci", url)], "kafka_session_timeout_s": 6.0, "replay_batch_size": 32})
    events = [make_event(f"kill-{i:04d}-{settings.app_name}", settings.app_name, f"prompt {i}") for i in range(400)]
    publish(settings, events)
    first = processes.start("worker-1", settings, "worker")
    wait_until(lambda: http_json(health)["requests"] >= 60, 90, "first calls", first)
    os.kill(first.pid, signal.SIGKILL)  # mid-stream: calls in flight, offsets uncommitted
    wait_until(lambda: not first.alive(), 10, "worker-1 to die")
    second = processes.start("worker-2", settings, "worker")

    assert wait_for_rows(clickhouse, settings.app_name, len(events), timeout_s=150, process=second,
                         settle_s=2.0) == len(events)
    found = rows(clickhouse, settings.app_name)
    assert sorted(r[0] for r in found) == sorted(e.event_id for e in events)  # 0 lost, 0 duplicated
    raw = clickhouse.command("SELECT count() FROM shadow_scores WHERE app = {app:String}",
                             parameters={"app": settings.app_name})
    assert raw >= len(events)  # redelivered batches may insert again: FINAL still counts each pair once
    model = http_json(health)
    assert model["repeated_event_ids"] == 0  # no event sent to the challenger twice
    assert model["requests"] <= len(events)
    statuses = {r[2] for r in found}
    assert statuses <= {"ok", "error"}
    assert all(r[3].startswith("abandoned") for r in found if r[2] == "error")
    ok = sum(1 for r in found if r[2] == "ok")
    assert ok <= model["requests"] and ok >= len(events) - 2 * settings.replay_concurrency


def test_a_sick_challenger_opens_its_breaker_heals_and_never_slows_the_others(
        pipeline_settings, processes, clickhouse):
    steady_url, _ = processes.sim_model(pipeline_settings, "steady")
    flaky_url, _ = processes.sim_model(pipeline_settings, "flaky")
    flaky_base = flaky_url.removesuffix("/v1")
    web_port = free_port()
    settings = pipeline_settings.model_copy(update={
        "challengers": [challenger("steady", steady_url), challenger("flaky", flaky_url, timeout_s=0.5)],
        "breaker_failure_threshold": 3, "breaker_open_s": 1.0, "replay_max_attempts": 2,
        "replay_retry_after_cap_s": 0.2, "worker_web_port": web_port, "replay_batch_size": 16})
    worker = processes.start("worker", settings, "worker")
    app, sent = settings.app_name, 0

    def burst(n: int, faults: dict) -> None:
        nonlocal sent
        post_json(f"{flaky_base}/admin/faults", faults)
        publish(settings, [make_event(f"sick-{sent + i:04d}-{app}", app) for i in range(n)])
        sent += n
        assert wait_for_rows(clickhouse, app, 2 * sent, timeout_s=90, process=worker) == 2 * sent

    burst(60, {"error_rate": 1.0})                                          # 500s
    burst(40, {"error_rate": 0.0, "latency_ms": 2000})                      # time-outs
    burst(40, {"latency_ms": 0, "rate_limited_rate": 1.0, "retry_after_s": 0.05})  # 429 burst
    post_json(f"{flaky_base}/admin/faults", {"rate_limited_rate": 0.0})
    sick_statuses = {r[2] for r in rows(clickhouse, app) if r[1] == "flaky"}
    healed_from = sent
    for _ in range(30):  # healthy again: probe until the breaker lets a call through and closes
        burst(8, {})
        if any(r[1] == "flaky" and r[2] == "ok" for r in rows(clickhouse, app)):
            break
        time.sleep(0.5)
    found = rows(clickhouse, app, "event_id, challenger, status, error")
    flaky = [r for r in found if r[1] == "flaky"]
    assert {"error", "timeout", "circuit_open"} <= sick_statuses
    assert any(r[2] == "ok" for r in flaky), "the breaker never closed again"
    # Other challengers unaffected: every steady call answered, none skipped.
    assert {r[2] for r in found if r[1] == "steady"} == {"ok"}
    assert sum(1 for r in found if r[1] == "steady") == sent
    # No retry storm: an open breaker sends nothing, a call makes at most max_attempts requests.
    model = http_json(f"{flaky_base}/healthz")
    called = sum(1 for r in flaky if r[2] != "circuit_open")
    assert model["requests"] <= settings.replay_max_attempts * called
    assert sum(1 for r in flaky if r[2] == "circuit_open") > 0
    text = get_text(f"http://127.0.0.1:{web_port}/metrics")
    assert metric(text, "shadow_breaker_opened_total", challenger="flaky") >= 1
    assert metric(text, "shadow_breaker_opened_total", challenger="steady") == 0
    assert metric(text, "shadow_replay_latency_seconds_count", challenger="steady") >= healed_from
    assert metric(text, "shadow_breaker_state", challenger="flaky") == 0  # closed again
    assert http_json(f"http://127.0.0.1:{web_port}/ready")["ready"] is True


def test_the_rate_limit_holds_across_two_workers(pipeline_settings, processes, clickhouse):
    rate = 8.0
    url, _ = processes.sim_model(pipeline_settings, "capped")
    ports = [free_port(), free_port()]
    base = pipeline_settings.model_copy(update={
        "challengers": [challenger("capped", url, rate_limit_rps=rate)], "replay_lag_budget_s": 0.0,
        "replay_batch_size": 8, "kafka_session_timeout_s": 6.0})
    workers = [processes.start(f"worker-{i}", base.model_copy(update={"worker_web_port": port}), "worker")
               for i, port in enumerate(ports)]
    for worker, port in zip(workers, ports):
        wait_until(lambda: http_json(f"http://127.0.0.1:{port}/ready")["ready"], 90, worker.name, worker)
    time.sleep(3)  # let the group settle on two members before the burst
    events = [make_event(f"rate-{i:04d}-{base.app_name}-k{i % 13}", base.app_name) for i in range(64)]
    publish(base, events)
    assert wait_for_rows(clickhouse, base.app_name, len(events), timeout_s=120, process=workers[0]) == len(events)
    assert {r[2] for r in rows(clickhouse, base.app_name)} == {"ok"}  # slowed down, nothing dropped
    arrivals = sorted(http_json(url.removesuffix("/v1") + "/admin/arrivals")["arrivals"])
    assert len(arrivals) == len(events)
    # In any one-second window, at most R calls (+1 for the window edge, +1 for network jitter).
    densest = max(sum(1 for t in arrivals[i:] if t < start + 1.0) for i, start in enumerate(arrivals))
    assert densest <= rate + 2
    served = [metric(get_text(f"http://127.0.0.1:{port}/metrics"), "shadow_replay_results_total",
                     challenger="capped", status="ok") for port in ports]
    assert sum(served) >= len(events) and all(s > 0 for s in served), served
