"""In-process challengers (kind python): loading, batch detection, micro-batching, timeouts, errors, pools."""

from __future__ import annotations

import asyncio
import importlib
import json
import textwrap
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.errors import ConfigError
from schemas.events import CapturedResponse, InferenceEvent, NormalizedRequest, ShadowStatus
from schemas.settings import ChallengerConfig
from stream_agents.python_challenger import (
    PythonChallengerClient,
    PythonPools,
    answer_text,
    is_batch_aware,
    load_target,
    model_input,
)

MODULE = textwrap.dedent('''
    from __future__ import annotations
    import asyncio, os, time

    CALLS = []  # the size of every call, so a test sees how inputs were grouped

    def one(row: dict) -> dict:
        CALLS.append(1)
        return {"label": int(row["x"] > 0)}

    def many(rows: list[dict]) -> list[dict]:
        CALLS.append(len(rows))
        return [{"label": int(r["x"] > 0)} for r in rows]

    async def one_async(row):
        await asyncio.sleep(0)
        return {"label": int(row["x"] > 0)}

    def slow(row):
        time.sleep(0.3)
        return 1

    def broken(row):
        raise ValueError("feature x is missing")

    def wrong_length(rows: list[dict]) -> list[dict]:
        return []

    def pid(row):
        return os.getpid()

    NOT_CALLABLE = 3
''')


@pytest.fixture
def models(tmp_path, monkeypatch) -> str:
    name = f"shadow_test_models_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def json_event(x: float, i: int = 0) -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(event_id=f"e{i}", app="a", route="/models/m/predict", ts_request=now, ts_response=now,
                          production_model="m", request=NormalizedRequest(kind="json", model="m", params={"x": x}),
                          response=CapturedResponse(status_code=200, text='{"label": 1}'), latency_ms=1.0,
                          request_hash="h")


def config(target: str, **extra: object) -> ChallengerConfig:
    return ChallengerConfig(name="py", model="py-model", kind="python", target=target, **extra)


def test_config_needs_a_target_for_python_and_a_url_for_http() -> None:
    with pytest.raises(ValidationError, match="set target"):
        ChallengerConfig(name="py", model="m", kind="python")
    with pytest.raises(ValidationError, match="set base_url"):
        ChallengerConfig(name="h", model="m")
    with pytest.raises(ValidationError):
        config("no-colon-here")


def test_load_target_says_what_is_wrong(models: str) -> None:
    assert load_target(f"{models}:one")({"x": 1}) == {"label": 1}
    with pytest.raises(ConfigError, match="cannot import"):
        load_target("no_such_module_here:predict")
    with pytest.raises(ConfigError, match="has no"):
        load_target(f"{models}:absent")
    with pytest.raises(ConfigError, match="not a callable"):
        load_target(f"{models}:NOT_CALLABLE")


def test_batch_awareness_from_the_annotation_or_the_flag(models: str) -> None:
    assert is_batch_aware(load_target(f"{models}:many"))
    assert not is_batch_aware(load_target(f"{models}:one"))
    assert not is_batch_aware(load_target(f"{models}:one_async"))

    def flagged(rows):
        return rows
    flagged.shadow_batch = True
    assert is_batch_aware(flagged)


def test_answers_become_text_or_canonical_json() -> None:
    import numpy as np

    assert answer_text("plain text") == "plain text"
    assert answer_text({"b": np.int64(2), "a": np.array([0.5, 1.0])}) == '{"a": [0.5, 1.0], "b": 2}'
    assert model_input(json_event(3.0)) == {"x": 3.0}


async def test_batch_aware_target_gets_the_pairs_that_arrive_together(models: str) -> None:
    client = PythonChallengerClient(config(f"{models}:many", max_batch=8), PythonPools(1))
    assert client.batch_aware
    outcomes = await asyncio.gather(*(client.call(json_event(x, i)) for i, x in enumerate([-1, 2, 3, -4] * 5)))
    assert [json.loads(o.result.response_text)["label"] for o in outcomes] == [0, 1, 1, 0] * 5
    assert all(o.result.status is ShadowStatus.OK and not o.provider_fault for o in outcomes)
    assert importlib.import_module(models).CALLS == [8, 8, 4]  # 20 pairs, at most 8 per call


async def test_sync_async_and_thread_targets_answer_the_same(models: str) -> None:
    for target, executor in ((f"{models}:one", "inline"), (f"{models}:one_async", "inline"),
                             (f"{models}:one", "thread")):
        client = PythonChallengerClient(config(target, executor=executor), PythonPools(1))
        outcome = await client.call(json_event(5.0))
        assert outcome.result.status is ShadowStatus.OK, (target, executor, outcome.result.error)
        assert outcome.result.response_text == '{"label": 1}'
        assert outcome.result.challenger == "py" and outcome.result.challenger_model == "py-model"


async def test_errors_and_timeouts_are_outcomes_that_count_against_the_breaker(models: str) -> None:
    broken = await PythonChallengerClient(config(f"{models}:broken"), PythonPools(1)).call(json_event(1))
    assert broken.result.status is ShadowStatus.ERROR and broken.provider_fault
    assert "ValueError: feature x is missing" in broken.result.error

    wrong = await PythonChallengerClient(config(f"{models}:wrong_length"), PythonPools(1)).call(json_event(1))
    assert wrong.result.status is ShadowStatus.ERROR and "0 answers for 1 inputs" in wrong.result.error

    for executor in ("inline", "thread"):
        slow = await PythonChallengerClient(config(f"{models}:slow", timeout_s=0.05, executor=executor),
                                            PythonPools(1)).call(json_event(1))
        assert slow.result.status is ShadowStatus.TIMEOUT and slow.provider_fault, executor

    missing = await PythonChallengerClient(config("no_such_module_here:predict"), PythonPools(1)).call(json_event(1))
    assert missing.result.status is ShadowStatus.ERROR and "cannot import" in missing.result.error


async def test_process_executor_runs_in_the_pool(models: str) -> None:
    import os

    pools = PythonPools(1)
    try:
        client = PythonChallengerClient(config(f"{models}:pid", executor="process"), pools)
        first, second = await asyncio.gather(client.call(json_event(1, 0)), client.call(json_event(1, 1)))
        assert first.result.status is ShadowStatus.OK, first.result.error
        assert int(first.result.response_text) == int(second.result.response_text) != os.getpid()
    finally:
        pools.close()


async def test_a_broken_pool_is_replaced(models: str) -> None:
    import os
    import signal

    pools = PythonPools(1)
    try:
        client = PythonChallengerClient(config(f"{models}:pid", executor="process"), pools)
        first = await client.call(json_event(1))
        os.kill(int(first.result.response_text), signal.SIGKILL)  # the pool process dies
        broken = await client.call(json_event(1, 1))
        assert broken.result.status is ShadowStatus.ERROR and broken.provider_fault
        again = await client.call(json_event(1, 2))
        assert again.result.status is ShadowStatus.OK and again.result.response_text != first.result.response_text
    finally:
        pools.close()
