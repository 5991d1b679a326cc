"""At most one call per (event, challenger), across workers, restarts and rebalances.

The first worker to see a pair claims it in Redis (SET NX) before calling. After the call it stores
the result under the same key, so a redelivered event (Kafka at-least-once, Faust #502) re-publishes
the stored result instead of paying for a second call. A pair claimed by a worker that died mid-call
stays claimed: it is reported as lost rather than called twice.
"""

from __future__ import annotations

from enum import StrEnum

import redis.asyncio as aioredis

from schemas.events import ShadowResult

__all__ = ["ClaimOutcome", "ClaimStore"]

_PENDING = b"pending"


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"          # ours: call the challenger
    DONE = "done"                # already answered: re-publish the stored result
    IN_FLIGHT = "in_flight"      # another worker holds it (or died holding it): do nothing


class ClaimStore:
    def __init__(self, client: aioredis.Redis, prefix: str = "shadow", ttl_s: int = 7 * 24 * 3600) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s

    def _key(self, event_id: str, challenger: str) -> str:
        return f"{self._prefix}:claim:{challenger}:{event_id}"

    async def claim(self, event_id: str, challenger: str) -> tuple[ClaimOutcome, ShadowResult | None]:
        key = self._key(event_id, challenger)
        if await self._redis.set(key, _PENDING, nx=True, ex=self._ttl_s):
            return ClaimOutcome.CLAIMED, None
        stored = await self._redis.get(key)
        if stored is None or stored == _PENDING:
            return ClaimOutcome.IN_FLIGHT, None
        return ClaimOutcome.DONE, ShadowResult.model_validate_json(stored)

    async def complete(self, result: ShadowResult) -> None:
        await self._redis.set(self._key(result.event.event_id, result.challenger),
                              result.model_dump_json().encode(), ex=self._ttl_s)
