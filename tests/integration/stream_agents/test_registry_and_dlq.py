"""Challengers added and removed at run time through the CLI; dead letters listed and re-driven."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from schemas.dead_letter import DeadLetter
from shadow_optic.child_env import settings_env
from shadow_optic.stack.processes import free_port, wait_until
from tests.integration.conftest import REPO_ROOT, challenger, http_json, wait_for_rows
from tests.integration.stream_agents.helpers import make_event, publish, rows

pytestmark = pytest.mark.integration


def _cli(settings, *args: str) -> str:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run([sys.executable, "-m", "shadow_optic", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_challengers_change_at_run_time_and_dead_letters_are_redriven(pipeline_settings, processes, clickhouse):
    a_url, _ = processes.sim_model(pipeline_settings, "alpha")
    b_url, _ = processes.sim_model(pipeline_settings, "beta")
    port = free_port()
    settings = pipeline_settings.model_copy(update={"challengers": [challenger("alpha", a_url)],
                                                    "worker_web_port": port,
                                                    "max_event_bytes": 4096})
    app = settings.app_name
    worker = processes.start("worker", settings, "worker")
    ready = f"http://127.0.0.1:{port}/ready"
    wait_until(lambda: http_json(ready)["ready"], 90, "worker", worker)

    def follow(version_line: str) -> None:
        version = int(version_line.rsplit("version ", 1)[1].rstrip(")\n"))
        wait_until(lambda: http_json(ready)["registry_version"] >= version, 30, "worker to follow the registry")

    publish(settings, [make_event(f"r1-{i}-{app}", app) for i in range(5)])
    assert wait_for_rows(clickhouse, app, 5, process=worker) == 5
    follow(_cli(settings, "challengers", "add", "beta", "--base-url", b_url, "--model", "beta", "--rps", "50"))
    listed = json.loads(_cli(settings, "challengers", "list", "--json"))
    assert [c["name"] for c in listed] == ["alpha", "beta"] and listed[1]["rate_limit_rps"] == 50
    publish(settings, [make_event(f"r2-{i}-{app}", app) for i in range(5)])
    assert wait_for_rows(clickhouse, app, 15, process=worker) == 15
    follow(_cli(settings, "challengers", "remove", "alpha"))
    publish(settings, [make_event(f"r3-{i}-{app}", app) for i in range(5)])
    assert wait_for_rows(clickhouse, app, 20, process=worker, settle_s=1.0) == 20
    by_batch = {}
    for event_id, name, status, _ in rows(clickhouse, app):
        by_batch.setdefault(event_id.split("-")[0], set()).add(name)
    assert by_batch == {"r1": {"alpha"}, "r2": {"alpha", "beta"}, "r3": {"beta"}}
    assert http_json(b_url.removesuffix("/v1") + "/healthz")["requests"] == 10

    # Dead letters: a malformed and an oversized message, plus a letter whose bytes are a valid event
    # (e.g. one that failed while a dependency was broken): only that one can be re-driven.
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(settings.topics.requests, key=b"bad", value=b"{not json")
    producer.produce(settings.topics.requests, key=b"big", value=b"x" * (settings.max_event_bytes + 1))
    good = make_event(f"dlq-0-{app}", app)
    letter = DeadLetter(stage="replay", reason="challenger store was down", topic=settings.topics.requests,
                        partition=0, offset=0, key_b64=base64.b64encode(good.event_id.encode()).decode(),
                        value_b64=DeadLetter.encode(good.model_dump_json().encode()), ts=datetime.now(UTC))
    producer.produce(settings.topics.dlq, key=b"manual", value=letter.model_dump_json().encode())
    assert producer.flush(30) == 0
    wait_until(lambda: len(_cli(settings, "dlq", "list", "--json").splitlines()) >= 3, 60, "dead letters", worker)
    listed = [json.loads(line) for line in _cli(settings, "dlq", "list", "--json").splitlines()]
    reasons = " | ".join(item["reason"] for item in listed)
    assert "not a valid InferenceEvent" in reasons and "byte limit" in reasons
    report = json.loads(_cli(settings, "dlq", "redrive", "--json"))
    assert report["redriven"] == 1 and report["skipped_invalid"] == 2
    assert wait_for_rows(clickhouse, app, 21, process=worker) == 21
    assert json.loads(_cli(settings, "dlq", "redrive", "--json"))["redriven"] == 0  # the cursor moved
    assert worker.alive()
