"""A challenger outside SHADOW_CHALLENGER_ALLOWED_HOSTS never receives a request, even once it is in the
registry (written there directly, as anyone with Redis access could); the CLI refuses to register it."""

from __future__ import annotations

import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from infra.redis_clients import redis_options
from shadow_optic.child_env import settings_env
from shadow_optic.stack.processes import free_port, wait_until
from stream_agents.registry import ChallengerRegistry, registry_prefix
from tests.integration.conftest import REPO_ROOT, challenger, http_json, wait_for_rows
from tests.integration.stream_agents.helpers import get_text, make_event, metric, publish, rows

pytestmark = pytest.mark.integration


async def _write_registry(settings, config) -> int:
    async with aioredis.Redis.from_url(settings.redis_url,
                                       **redis_options(settings.redis_url, settings.redis_security)) as client:
        registry = ChallengerRegistry(client, registry_prefix(settings.topic_prefix))  # no check: a raw write
        await registry.put(config)
        return await registry.version()


def test_a_challenger_outside_the_allowed_hosts_never_receives_a_request(pipeline_settings, processes, clickhouse):
    import asyncio

    inside_url, _ = processes.sim_model(pipeline_settings, "inside")
    outside_url, _ = processes.sim_model(pipeline_settings, "outside")
    inside_port = inside_url.split(":")[2].split("/")[0]
    port = free_port()
    settings = pipeline_settings.model_copy(update={
        "challengers": [challenger("inside", inside_url)], "worker_web_port": port,
        "challenger_allowed_hosts": [f"127.0.0.1:{inside_port}"]})
    app = settings.app_name

    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    refused = subprocess.run([sys.executable, "-m", "shadow_optic", "challengers", "add", "outside", "--base-url",
                              outside_url, "--model", "outside"], env=env, cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 2 and "outside the allowed hosts" in refused.stderr, refused.stderr

    worker = processes.start("worker", settings, "worker")
    wait_until(lambda: http_json(f"http://127.0.0.1:{port}/ready")["ready"], 90, "worker", worker)
    version = asyncio.run(_write_registry(settings, challenger("outside", outside_url)))
    wait_until(lambda: http_json(f"http://127.0.0.1:{port}/ready")["registry_version"] >= version, 30,
               "the worker to follow the registry", worker)

    publish(settings, [make_event(f"ah-{i}-{app}", app) for i in range(8)])
    assert wait_for_rows(clickhouse, app, 8, process=worker, settle_s=1.5) == 8
    assert {name for _, name, _, _ in rows(clickhouse, app)} == {"inside"}
    assert http_json(inside_url.removesuffix("/v1") + "/healthz")["requests"] == 8
    assert http_json(outside_url.removesuffix("/v1") + "/healthz")["requests"] == 0
    metrics_text = get_text(f"http://127.0.0.1:{port}/metrics")
    assert metric(metrics_text, "shadow_challenger_outside_allowed_hosts_total", challenger="outside") >= 1
    assert "challenger 'outside' skipped" in worker.log_tail(100_000)
