"""`shadow-optic dashboard --once [--json]` as a user runs it: a child process against the real stack."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import redis.asyncio as aioredis

from schemas.settings import ChallengerConfig
from shadow_optic.child_env import settings_env
from stream_agents.registry import ChallengerRegistry, registry_prefix
from tests.integration.analytics.synthetic import insert, make_records
from tests.integration.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def _dashboard(settings, *flags: str) -> str:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run([sys.executable, "-m", "shadow_optic", "dashboard", "--once", *flags], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def _register(settings, *configs: ChallengerConfig) -> None:
    async with aioredis.Redis.from_url(settings.redis_url) as client:
        registry = ChallengerRegistry(client, registry_prefix(settings.topic_prefix))
        for config in configs:
            await registry.put(config)


def test_dashboard_once_json_and_text(pipeline_settings, clickhouse):
    s = pipeline_settings
    insert(clickhouse, make_records(s.app_name, "ctrl", 300, seed=2, control=True))
    insert(clickhouse, make_records(s.app_name, "cheap", 300, seed=3, shift=0.05, error_rate=0.02))
    asyncio.run(_register(s, ChallengerConfig(name="cheap", base_url="http://127.0.0.1:9/v1", model="cheap-1"),
                          ChallengerConfig(name="fresh", base_url="http://127.0.0.1:9/v1", model="fresh-1")))

    overview = json.loads(_dashboard(s, "--json"))
    rows = {c["name"]: c for c in overview["challengers"]}
    assert set(rows) == {"cheap", "fresh", "ctrl"} and overview["app"] == s.app_name
    cheap = rows["cheap"]
    assert cheap["registered"] and cheap["model"] == "cheap-1" and cheap["rows"] == 300
    assert cheap["verdict"] == "insufficient_data"  # 300 of 1,000 samples
    assert cheap["progress"]["samples"] == 300 and cheap["progress"]["min_samples"] == 1000
    assert 0 < cheap["error_rate"] < 0.1 and cheap["noise_floor"] == pytest.approx(rows["ctrl"]["mean_similarity"])
    assert rows["ctrl"]["control"] and not rows["ctrl"]["registered"] and rows["fresh"]["rows"] == 0
    assert overview["lag"]["group"] == s.consumer_group and overview["lag"]["total_lag"] == 0

    text = _dashboard(s)
    assert "cheap" in text and "fresh" in text and "300/1000" in text and "never promoted" in text
