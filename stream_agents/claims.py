"""At most one call per (event, challenger), across workers, restarts and rebalances.

Before calling, a worker claims the pair in Redis (`P|<worker id>`, SET NX). After the call it
stores the ShadowResult under the same key, so a redelivered event (Kafka at-least-once, Faust
#502) re-publishes the stored result instead of paying for a second call. Every worker keeps a
liveness key alive (heartbeat). A pair still pending when its worker's liveness key has expired
(kill -9, OOM, lost host) is *abandoned*: it is settled with an error result, once, by whoever sees
it next, and never called again: the dead worker may well have sent the request already.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

import redis.asyncio as aioredis

from schemas.events import InferenceEvent, ShadowResult, ShadowStatus
from schemas.redis_keys import claim_key, worker_liveness_prefix
from stream_agents.redis_batch import RedisBatcher

__all__ = ["ClaimOutcome", "ClaimStore", "abandoned_result"]

_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  return {0, ''}
end
local value = redis.call('GET', KEYS[1])
if not value then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return {0, ''}
end
if string.sub(value, 1, 2) == 'P|' then
  local owner = string.sub(value, 3)
  return {2, owner, redis.call('EXISTS', ARGV[3] .. owner)}
end
return {1, value}
"""

# Settle a pending pair only if it is still held by the same (dead) owner.
_ABANDON = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"          # ours: call the challenger
    DONE = "done"                # already answered: re-publish the stored result
    IN_FLIGHT = "in_flight"      # a live worker (maybe this one) is calling: wait for its result
    ORPHANED = "orphaned"        # held by a worker that died: settle it as abandoned, never call


def abandoned_result(event: InferenceEvent, challenger: str, model: str, is_control: bool,
                     owner: str) -> ShadowResult:
    return ShadowResult(event=event, challenger=challenger, challenger_model=model, is_control=is_control,
                        status=ShadowStatus.ERROR, ts_called=datetime.now(UTC),
                        error=f"abandoned: worker {owner} died during the call; not called again (at most once)")


class ClaimStore:
    def __init__(self, client: aioredis.Redis, prefix: str = "shadow", ttl_s: int = 7 * 24 * 3600,
                 worker_id: str | None = None, liveness_s: float = 5.0) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl_s = ttl_s
        self.worker_id = worker_id or uuid.uuid4().hex[:12]
        self._liveness_ms = int(liveness_s * 1000)
        self._claim = client.register_script(_CLAIM)
        self._abandon = client.register_script(_ABANDON)
        # A batch claims its pairs at once and stores results in bursts: one round trip for each.
        self._batcher = RedisBatcher(client)

    def _key(self, event_id: str, challenger: str) -> str:
        return claim_key(self._prefix, challenger, event_id)

    @property
    def _worker_prefix(self) -> str:
        return worker_liveness_prefix(self._prefix)

    async def beat(self) -> None:
        """Keep this worker's claims alive; called every heartbeat interval (liveness = several beats)."""
        await self._redis.set(self._worker_prefix + self.worker_id, b"1", px=self._liveness_ms)

    async def retire(self) -> None:
        await self._redis.delete(self._worker_prefix + self.worker_id)

    async def claim(self, event_id: str, challenger: str) -> tuple[ClaimOutcome, ShadowResult | str | None]:
        """CLAIMED/None, DONE/stored result, IN_FLIGHT/owner or ORPHANED/owner. One round trip."""
        keys, args = [self._key(event_id, challenger)], [f"P|{self.worker_id}", self._ttl_s, self._worker_prefix]
        reply = await self._batcher.submit(lambda pipe: self._claim(keys=keys, args=args, client=pipe))
        code = int(reply[0])
        if code == 0:
            return ClaimOutcome.CLAIMED, None
        if code == 1:
            return ClaimOutcome.DONE, ShadowResult.model_validate_json(reply[1])
        owner = reply[1].decode() if isinstance(reply[1], bytes) else str(reply[1])
        alive = int(reply[2]) == 1 or owner == self.worker_id
        return (ClaimOutcome.IN_FLIGHT if alive else ClaimOutcome.ORPHANED), owner

    async def complete(self, result: ShadowResult) -> None:
        key, value = self._key(result.event.event_id, result.challenger), result.model_dump_json().encode()
        await self._batcher.submit(lambda pipe: pipe.set(key, value, ex=self._ttl_s))

    async def abandon(self, owner: str, result: ShadowResult) -> ShadowResult | None:
        """Settle an orphaned pair with `result`; None if someone settled it first (then read it)."""
        settled = await self._abandon(keys=[self._key(result.event.event_id, result.challenger)],
                                      args=[f"P|{owner}", result.model_dump_json(), self._ttl_s])
        return result if int(settled) == 1 else None
