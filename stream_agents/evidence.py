"""Pass/fail evidence per challenger in Redis, written by the scoring agent, read by the allocator."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import redis.asyncio as aioredis

from schemas.events import ScoredRecord, ShadowStatus
from schemas.redis_keys import evidence_key
from stream_agents.allocation import Evidence

__all__ = ["EvidenceStore"]


class EvidenceStore:
    def __init__(self, client: aioredis.Redis, prefix: str, pass_similarity: float) -> None:
        self._redis = client
        self._key = evidence_key(prefix)
        self._pass_similarity = pass_similarity

    async def record(self, records: Iterable[ScoredRecord]) -> None:
        """One HINCRBY per challenger and outcome for a whole batch (one round trip)."""
        counts: Counter[str] = Counter()
        for record in records:
            if record.is_control or record.status is not ShadowStatus.OK or record.similarity is None:
                continue
            outcome = "p" if record.similarity >= self._pass_similarity else "f"
            counts[f"{record.challenger}:{outcome}"] += 1
        if not counts:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for field, count in counts.items():
                pipe.hincrby(self._key, field, count)
            await pipe.execute()

    async def load(self) -> dict[str, Evidence]:
        raw = await self._redis.hgetall(self._key)
        totals: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            name, _, outcome = field.decode().rpartition(":")
            totals.setdefault(name, {"p": 0, "f": 0})[outcome] = int(value)
        return {name: Evidence(passes=t["p"], fails=t["f"]) for name, t in totals.items()}
