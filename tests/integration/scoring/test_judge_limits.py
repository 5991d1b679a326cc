"""The judge's rate limit and budget hold across workers (real Redis), like every limit of the project."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis.asyncio as aioredis

from stream_agents.limits import RateLimiter
from stream_agents.scoring.judge_limits import LocalJudgeLimits, SharedJudgeLimits

pytestmark = pytest.mark.integration


def test_two_workers_share_the_judges_budget_and_pace(stack_settings):
    async def go():
        prefix = f"t{uuid.uuid4().hex[:8]}"
        async with aioredis.Redis.from_url(stack_settings.redis_url) as client:
            # Two "workers", one judge: 20 calls/s between them, $0.10 a day between them.
            workers = [SharedJudgeLimits(RateLimiter(client, prefix), "judge-m", 20.0, 1, 0.10) for _ in range(2)]
            began = time.monotonic()
            admitted = await asyncio.gather(*(workers[i % 2].acquire() for i in range(10)))
            paced = time.monotonic() - began
            for i in range(4):
                await workers[i % 2].settle(0.03)  # $0.12 spent in all: over the shared budget
            after = [await w.acquire() for w in workers]
            return admitted, paced, after

    admitted, paced, after = asyncio.run(go())
    assert all(admitted)
    assert paced >= 9 / 20 * 0.8  # ten calls at 20/s across both workers: nine intervals, not five
    assert after == [False, False]  # the budget spent by both is spent for each


def test_local_limits_stop_at_the_budget():
    async def go():
        limits = LocalJudgeLimits(1000.0, 10, 0.05)
        first = await limits.acquire()
        await limits.settle(0.05)
        return first, await limits.acquire()

    assert asyncio.run(go()) == (True, False)


def test_a_large_batch_is_judged_through_the_shared_limits_without_exhausting_redis(stack_settings):
    """A replay batch asks hundreds of pairs at once (seen: 640 admissions exhausted redis-py's pool of
    100 with MaxConnectionsError, and the replay agent retried the batch forever)."""
    import json
    from datetime import UTC, datetime

    import httpx

    from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, ShadowResult, \
        ShadowStatus
    from schemas.settings import ModelPrice
    from stream_agents.scoring.scorer import Scorer

    def judge(request: httpx.Request) -> httpx.Response:
        prompt = json.loads(request.content)["messages"][1]["content"]
        winner = "A" if "<answer_a>\nmine" in prompt else "B"
        return httpx.Response(200, json={"choices": [{"message": {"content": f'{{"winner": "{winner}"}}'}}],
                                         "usage": {"prompt_tokens": 100, "completion_tokens": 5}})

    now = datetime.now(UTC)
    results = [ShadowResult(
        event=InferenceEvent(event_id=f"e{i}", route="/r", ts_request=now, ts_response=now, production_model="p",
                             request=NormalizedRequest(model="p", messages=[ChatMessage(role="user", content="q")]),
                             response=CapturedResponse(status_code=200, text="theirs"), latency_ms=1.0,
                             request_hash="h"),
        challenger="c", challenger_model="m", status=ShadowStatus.OK, response_text="mine", ts_called=now)
        for i in range(400)]
    settings = stack_settings.model_copy(update={
        "judge_base_url": "http://judge/v1", "judge_model": f"j-{uuid.uuid4().hex[:6]}", "judge_rps": 5000.0,
        "judge_burst": 500, "judge_concurrency": 64, "topic_prefix": f"t{uuid.uuid4().hex[:6]}."})

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(judge)) as http:
            async with Scorer(settings.scoring, settings.connections, http=http) as scorer:
                return await scorer.score_batch(results, [ModelPrice()] * len(results))

    records = asyncio.run(go())
    assert all(not isinstance(r, Exception) for r in records)
    assert [r.judgment.score for r in records] == [1.0] * len(results)  # both orders: the challenger wins
