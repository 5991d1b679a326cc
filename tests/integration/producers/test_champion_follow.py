"""Promote and roll back reach the gateway through Redis, without a restart (real Redis, Kafka)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import redis.asyncio as aioredis

from analytics.champion import ChampionRegistry
from schemas.redis_keys import champion_key, namespace, registry_hash_key
from schemas.settings import ChallengerConfig
from stream_agents.registry import ChallengerRegistry, registry_prefix
from tests.integration.conftest import DATA_DIR, http_json
from tests.integration.producers.test_gateway_kafka import _start_gateway

pytestmark = pytest.mark.integration
PAIRS = DATA_DIR / "paired_responses.jsonl"


def test_the_key_names_are_the_ones_the_writers_use(stack_settings):
    assert ChampionRegistry(None, "p").key("app") == champion_key("p", "app")  # type: ignore[arg-type]
    assert ChallengerRegistry(None, registry_prefix("t.")).__dict__["_hash"] == registry_hash_key(namespace("t."))


def _answer(base: str, prompt: str) -> tuple[str, str]:
    response = httpx.post(f"{base}/v1/chat/completions", timeout=30,
                          json={"model": "gpt-4", "messages": [{"role": "user", "content": prompt}]})
    assert response.status_code == 200
    body = response.json()
    return body["model"], body["choices"][0]["message"]["content"]


def _until(check, timeout_s: float = 30.0) -> float:
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if check():
            return time.monotonic() - began
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s}s")


def test_promote_and_rollback_switch_the_gateway_within_a_poll(pipeline_settings, processes):
    production_url, _ = processes.sim_model(pipeline_settings, "gpt-4", "--answers", str(PAIRS),
                                            "--field", "production_response")
    challenger_url, challenger_sim = processes.sim_model(pipeline_settings, "davinci", "--answers", str(PAIRS),
                                                         "--field", "challenger_response")
    settings = pipeline_settings.model_copy(update={"production_url": production_url,
                                                    "gateway_champion_poll_s": 0.5})
    base = _start_gateway(processes, settings)
    prompt = "What are you thinking of right now?"
    assert _answer(base, prompt)[0] == "gpt-4"
    assert http_json(f"{base}/healthz")["serving"] == "production"

    async def register() -> None:
        async with aioredis.from_url(settings.redis_url) as client:
            await ChallengerRegistry(client, registry_prefix(settings.topic_prefix)).put(
                ChallengerConfig(name="davinci", base_url=challenger_url, model="davinci"))
    asyncio.run(register())

    champions = ChampionRegistry.from_url(settings.redis_url, settings.champion_key_prefix)
    champions.promote(settings.app_name, "davinci", "decision-1")
    _until(lambda: _answer(base, prompt)[0] == "davinci")
    model, text = _answer(base, prompt)
    assert model == "davinci" and text.startswith("I'm thinking")  # the challenger's recorded answer
    assert http_json(f"{base}/healthz")["serving"] == "davinci"
    assert http_json(challenger_sim_health(challenger_url))["requests"] >= 1

    champions.rollback(settings.app_name, "decision-2", to="production")
    _until(lambda: _answer(base, prompt)[0] == "gpt-4")
    assert http_json(f"{base}/healthz")["serving"] == "production"


def challenger_sim_health(base_url: str) -> str:
    return base_url.removesuffix("/v1") + "/healthz"
