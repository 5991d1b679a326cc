"""The judge's own rate limit and spend budget: another paid model with its own quota.

`SharedJudgeLimits` holds them across every worker through Redis (the same GCRA script and spend
counters as the challengers' limits, under the judge's own key), as every limit of this project
does. `LocalJudgeLimits` holds them in one process, for runs without Redis (a one-off `rescore`,
unit tests). Both: `acquire()` waits for the next slot and says False once the budget is spent;
`settle(cost)` books what a call really cost.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from stream_agents.limits import AdmissionOutcome, RateLimiter, SpendLimits
from stream_agents.scoring.judge import AsyncRateLimiter

__all__ = ["JudgeLimits", "LocalJudgeLimits", "SharedJudgeLimits"]


class JudgeLimits(Protocol):
    async def acquire(self) -> bool: ...

    async def settle(self, cost_usd: float) -> None: ...


class LocalJudgeLimits:
    """Per process: a token bucket and a spend cap over the process's lifetime."""

    def __init__(self, rate_per_s: float, burst: int, budget_usd: float | None) -> None:
        self._bucket, self._budget, self.spent_usd = AsyncRateLimiter(rate_per_s, burst), budget_usd, 0.0

    async def acquire(self) -> bool:
        if self._budget is not None and self.spent_usd >= self._budget:
            return False
        await self._bucket.acquire()
        return True

    async def settle(self, cost_usd: float) -> None:
        self.spent_usd += cost_usd


class SharedJudgeLimits:
    """Across every worker: `rate_per_s` calls per second and `budget_usd` per day, in Redis."""

    def __init__(self, limiter: RateLimiter, judge_model: str, rate_per_s: float, burst: int,
                 budget_usd: float | None) -> None:
        self._limiter, self._name = limiter, f"_judge:{judge_model}"
        self._limits = SpendLimits(rate_rps=rate_per_s, burst=burst, budget_usd=budget_usd, budget_period="day")

    async def acquire(self) -> bool:
        admission = await self._limiter.admit(self._name, self._limits, max_wait_s=None)
        if admission.outcome is not AdmissionOutcome.ADMITTED:
            return False
        if admission.wait_s > 0:
            await asyncio.sleep(admission.wait_s)
        return True

    async def settle(self, cost_usd: float) -> None:
        await self._limiter.settle(self._name, self._limits, 0.0, cost_usd)
