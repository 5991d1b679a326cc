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
