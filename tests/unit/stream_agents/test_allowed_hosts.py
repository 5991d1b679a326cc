"""SHADOW_CHALLENGER_ALLOWED_HOSTS: where prompts may go, checked at registration and by the worker."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from schemas.errors import ConfigError
from schemas.settings import ChallengerConfig, Settings
from stream_agents.allowed_hosts import AllowedHosts
from stream_agents.backfill import BackfillPlan, run_backfill
from stream_agents.metrics import WorkerMetrics
from stream_agents.registry import ChallengerRegistry
from stream_agents.replay import ReplayStage


def _challenger(name: str, url: str) -> ChallengerConfig:
    return ChallengerConfig(name=name, base_url=url, model="m")


def test_patterns_match_host_any_port_host_port_and_wildcards():
    allowed = AllowedHosts(["*.models.internal:8000", "api.openai.com", "10.0.0.7"])
    assert allowed.allows("http://llama.models.internal:8000/v1")
    assert not allowed.allows("http://llama.models.internal:9000/v1")
    assert allowed.allows("https://api.openai.com/v1") and allowed.allows("http://api.openai.com:8080/v1")
    assert allowed.allows("http://10.0.0.7:1234/v1")
    assert not allowed.allows("http://127.0.0.1:8000/v1")  # a set list is exactly the list: no loopback
    assert not allowed.allows("http://evil.example/v1") and not allowed.allows("not a url")
    assert AllowedHosts(["api.openai.com:443"]).allows("https://api.openai.com/v1")  # scheme's default port


def test_unset_means_loopback_and_the_hosts_named_at_start():
    settings = Settings(challengers=[_challenger("a", "http://vllm.internal:8000/v1")],
                        judge_base_url="https://judge.example.com/v1", embedding_base_url="http://emb.local:9/v1")
    allowed = AllowedHosts.from_settings(settings)
    for url in ("http://127.0.0.1:5/v1", "http://localhost/v1", "http://[::1]:8/v1", "http://127.3.4.5/v1",
                "http://vllm.internal:9999/v1", "https://judge.example.com/v1", "http://emb.local:9/v1"):
        assert allowed.allows(url), url
    assert not allowed.allows("http://attacker.example:8000/v1")
    with pytest.raises(ConfigError, match="attacker.example:8000.*SHADOW_CHALLENGER_ALLOWED_HOSTS"):
        allowed.check("http://attacker.example:8000/v1", "challenger 'x'")


def test_the_registry_refuses_a_challenger_outside_before_writing():
    async def scenario() -> None:
        # Nothing listens on port 1: the refusal comes before any Redis call.
        client = aioredis.Redis.from_url("redis://127.0.0.1:1/0")
        registry = ChallengerRegistry(client, "t", AllowedHosts(["models.internal"]))
        with pytest.raises(ConfigError, match="challenger 'outside' at evil.example:80"):
            await registry.put(_challenger("outside", "http://evil.example/v1"))
        await client.aclose()
    asyncio.run(scenario())


def test_the_worker_skips_a_registered_challenger_outside_with_a_log_line_and_a_metric(caplog):
    settings = Settings(challenger_allowed_hosts=["127.0.0.1:8001"])
    metrics = WorkerMetrics()
    stage = ReplayStage(settings.worker, settings.models, http=None, claims=None, limiter=None,  # type: ignore[arg-type]
                        metrics=metrics, allowed=AllowedHosts.from_settings(settings))
    caplog.set_level(logging.ERROR)
    stage.set_challengers([_challenger("inside", "http://127.0.0.1:8001/v1"),
                           _challenger("outside", "http://127.0.0.1:8002/v1")])
    assert list(stage._active) == ["inside"]
    assert "challenger 'outside' skipped" in caplog.text and "allowed hosts" in caplog.text
    value = metrics.registry.get_sample_value("shadow_challenger_outside_allowed_hosts_total",
                                              {"challenger": "outside"})
    assert value == 1.0
    # Without an explicit list (the stage's default): loopback and the configured challengers' hosts.
    default = ReplayStage(Settings().worker, Settings().models, http=None, claims=None, limiter=None,  # type: ignore[arg-type]
                          metrics=WorkerMetrics())
    default.set_challengers([_challenger("local", "http://127.0.0.1:9/v1"), _challenger("far", "http://far.example/v1")])
    assert list(default._active) == ["local"]


def test_a_backfill_to_a_host_outside_is_refused_before_reading_anything():
    settings = Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0",
                        challenger_allowed_hosts=["models.internal"])
    plan = BackfillPlan(challenger="x", ts_from=datetime(2026, 1, 1, tzinfo=UTC), ts_to=datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(ConfigError, match="outside the allowed hosts"):
        asyncio.run(run_backfill(settings, plan, _challenger("x", "http://elsewhere.example/v1")))


def test_a_judge_outside_stops_the_worker_at_start():
    from stream_agents.app import create_app

    settings = Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0",
                        clickhouse_url="http://127.0.0.1:1", judge_base_url="https://judge.example.com/v1",
                        challenger_allowed_hosts=["models.internal"])
    with pytest.raises(ConfigError, match="the judge"):
        create_app(settings)


def _python(name: str, target: str) -> ChallengerConfig:
    return ChallengerConfig(name=name, kind="python", target=target, model=name)


def test_python_targets_are_those_named_at_start_unless_listed():
    named = _python("tree", "tests.models:predict")
    allowed = AllowedHosts.from_settings(Settings(challengers=[named]))  # no host to resolve: no error
    assert allowed.allows_challenger(named)
    allowed.check_challenger(named)
    intruder = _python("shell", "os:system")  # a registry write must not run arbitrary code on the worker
    assert not allowed.allows_challenger(intruder)
    with pytest.raises(ConfigError, match="SHADOW_PYTHON_ALLOWED_TARGETS"):
        allowed.check_challenger(intruder)
    listed = AllowedHosts.from_settings(Settings(python_allowed_targets=["models.*:predict"]))
    assert listed.allows_challenger(_python("m", "models.fraud:predict"))
    assert not listed.allows_challenger(named)  # a set list is exactly the list
