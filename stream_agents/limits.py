"""Rate limits and spend budgets that hold across every worker: one Lua script, one round trip.

Rate: GCRA with reservation. Each admitted call books the next slot of its challenger in Redis and
is told how long to wait for it, so N workers together pace calls at exactly R/s without polling.
A call that would have to wait longer than its lag budget books nothing and is skipped.
Spend: a counter per challenger and period (and one shared by all challengers) in USD. A call
reserves its estimated cost when admitted; the difference to the real cost is settled afterwards.
Clock: Redis TIME, so workers with skewed clocks still share one schedule. Redis down = exception:
the caller fails closed (no call without admission).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Literal

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from schemas.redis_keys import SHARED_SPEND, rate_key, spend_key

__all__ = ["Admission", "AdmissionOutcome", "SpendLimits", "RateLimiter", "period_bucket"]

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local own_budget = tonumber(ARGV[4])
local shared_budget = tonumber(ARGV[5])
local estimate = tonumber(ARGV[6])
if own_budget >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') + estimate > own_budget then
  return {2, 0}
end
if shared_budget >= 0 and tonumber(redis.call('GET', KEYS[3]) or '0') + estimate > shared_budget then
  return {3, 0}
end
local wait = 0
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  wait = tat - interval * (burst - 1) - now
  if wait < 0 then wait = 0 end
  if max_wait >= 0 and wait > max_wait then
    return {1, math.floor(wait)}
  end
  local new_tat = tat + interval
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 60000)
end
if estimate > 0 then
  if own_budget >= 0 then
    redis.call('INCRBYFLOAT', KEYS[2], ARGV[6])
    redis.call('EXPIRE', KEYS[2], ARGV[7])
  end
  if shared_budget >= 0 then
    redis.call('INCRBYFLOAT', KEYS[3], ARGV[6])
    redis.call('EXPIRE', KEYS[3], ARGV[7])
  end
end
return {0, math.floor(wait)}
"""

# Retry-After seen by one worker pushes the shared schedule back for all of them.
_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local until_ = now + tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < until_ then
  redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', math.ceil(tonumber(ARGV[1]) / 1000) + 60000)
end
return 1
"""

_PERIOD_SECONDS = {"hour": 3600, "day": 86400, "month": 31 * 86400}


def period_bucket(period: Literal["hour", "day", "month"], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return now.strftime({"hour": "%Y%m%d%H", "day": "%Y%m%d", "month": "%Y%m"}[period])


class AdmissionOutcome(IntEnum):
    ADMITTED = 0
    RATE_LIMITED = 1      # its slot is further away than the lag budget allows
    OVER_BUDGET = 2       # the challenger's own budget for this period is spent
    OVER_SHARED_BUDGET = 3


class Admission(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: AdmissionOutcome
    wait_s: float = 0.0   # admitted: sleep this long, the slot is booked; rate limited: how far it was
    reserved_usd: float = 0.0


class SpendLimits(BaseModel):
    """The limits of one challenger as the limiter needs them (None = unlimited)."""

    model_config = ConfigDict(frozen=True)

    rate_rps: float | None = None
    burst: int = 1
    budget_usd: float | None = None
    budget_period: Literal["hour", "day", "month"] = "day"
    shared_budget_usd: float | None = None
    shared_period: Literal["hour", "day", "month"] = "day"


class RateLimiter:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._penalize = client.register_script(_PENALIZE)

    def _keys(self, challenger: str, limits: SpendLimits) -> list[str]:
        return [rate_key(self._prefix, challenger),
                spend_key(self._prefix, challenger, period_bucket(limits.budget_period)),
                spend_key(self._prefix, SHARED_SPEND, period_bucket(limits.shared_period))]

    async def admit(self, challenger: str, limits: SpendLimits, max_wait_s: float | None,
                    estimate_usd: float = 0.0) -> Admission:
        """Book a slot (and the estimated spend) for one call, or say why not. One round trip."""
        if limits.rate_rps is None and limits.budget_usd is None and limits.shared_budget_usd is None:
            return Admission(outcome=AdmissionOutcome.ADMITTED)
        interval_us = 1_000_000.0 / limits.rate_rps if limits.rate_rps else 0.0
        ttl = 2 * max(_PERIOD_SECONDS[limits.budget_period], _PERIOD_SECONDS[limits.shared_period])
        code, wait_us = await self._admit(
            keys=self._keys(challenger, limits),
            args=[repr(interval_us), limits.burst, -1 if max_wait_s is None else int(max_wait_s * 1e6),
                  -1 if limits.budget_usd is None else repr(limits.budget_usd),
                  -1 if limits.shared_budget_usd is None else repr(limits.shared_budget_usd),
                  repr(max(0.0, estimate_usd)), ttl])
        outcome = AdmissionOutcome(int(code))
        reserved = estimate_usd if outcome is AdmissionOutcome.ADMITTED else 0.0
        return Admission(outcome=outcome, wait_s=int(wait_us) / 1e6, reserved_usd=reserved)

    async def settle(self, challenger: str, limits: SpendLimits, reserved_usd: float, actual_usd: float) -> None:
        """Replace the reserved estimate by the real cost (which may be 0 for a failed call)."""
        delta = actual_usd - reserved_usd
        if abs(delta) < 1e-12 or (limits.budget_usd is None and limits.shared_budget_usd is None):
            return
        _, own, shared = self._keys(challenger, limits)
        async with self._redis.pipeline(transaction=False) as pipe:
            if limits.budget_usd is not None:
                pipe.incrbyfloat(own, delta)
            if limits.shared_budget_usd is not None:
                pipe.incrbyfloat(shared, delta)
            await pipe.execute()

    async def penalize(self, challenger: str, seconds: float) -> None:
        """The provider said 'retry after N s': no worker books a slot of this challenger before then."""
        await self._penalize(keys=[rate_key(self._prefix, challenger)], args=[int(seconds * 1e6)])

    async def spent(self, challenger: str, limits: SpendLimits) -> float:
        value = await self._redis.get(self._keys(challenger, limits)[1])
        return float(value or 0.0)
