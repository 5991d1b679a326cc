"""The champion registry in Redis: which model serves an app. The gateway follows it.

Key `{prefix}:{app}` is a hash (champion, previous, version, decision_id, updated_at); every change
bumps `version` and is announced on channel `{prefix}:{app}:changes`. A gateway that subscribes acts
at once; one that polls `current()` every few seconds acts within its poll interval — either way
well under 30 s, with no restart. Changes are atomic (WATCH/MULTI), so two racing promotions cannot
both win or lose the previous champion.

Before any promotion the configured production upstream serves; it is named `production` (PRODUCTION)
once something replaces it, so the first promotion records `previous = production` and a plain
rollback after it restores production. The gateway reads any name that is not in the challenger
registry as the configured production upstream.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from pydantic import BaseModel

from infra.redis_clients import redis_options
from schemas.errors import InvalidRequestError
from schemas.redis_keys import champion_changes_channel, champion_key
from schemas.security import RedisSecurity

__all__ = ["PRODUCTION", "ChampionState", "ChampionRegistry"]

PRODUCTION = "production"  # the configured production upstream (SHADOW_PRODUCTION_URL), as a champion name


class ChampionState(BaseModel):
    app: str
    champion: str | None
    previous: str | None
    version: int
    decision_id: str | None
    updated_at: datetime | None


class ChampionRegistry:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis, self._prefix = client, prefix

    @classmethod
    def from_url(cls, url: str, prefix: str, security: RedisSecurity | None = None) -> "ChampionRegistry":
        return cls(redis.Redis.from_url(url, decode_responses=True, **redis_options(url, security)), prefix)

    def key(self, app: str) -> str:
        return champion_key(self._prefix, app)

    def channel(self, app: str) -> str:
        return champion_changes_channel(self._prefix, app)

    def current(self, app: str) -> ChampionState:
        raw = self._redis.hgetall(self.key(app))
        return ChampionState(app=app, champion=raw.get("champion") or None, previous=raw.get("previous") or None,
                             version=int(raw.get("version", 0)), decision_id=raw.get("decision_id") or None,
                             updated_at=datetime.fromisoformat(raw["updated_at"]) if raw.get("updated_at") else None)

    def _set(self, app: str, champion_of, decision_id: str) -> ChampionState:
        key = self.key(app)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.hgetall(key)
                    champion, previous = champion_of(raw.get("champion") or None, raw.get("previous") or None)
                    now = datetime.now(UTC).isoformat()
                    pipe.multi()
                    pipe.hset(key, mapping={"champion": champion, "previous": previous or "",
                                            "version": int(raw.get("version", 0)) + 1, "decision_id": decision_id,
                                            "updated_at": now})
                    pipe.publish(self.channel(app), f"{champion}|{decision_id}")
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue  # someone else changed it between our read and write: read again
        return self.current(app)

    def promote(self, app: str, challenger: str, decision_id: str) -> ChampionState:
        def swap(champion: str | None, previous: str | None) -> tuple[str, str | None]:
            if champion == challenger:
                return challenger, previous
            return challenger, champion or PRODUCTION  # never promoted: production is what it replaces
        return self._set(app, swap, decision_id)

    def rollback(self, app: str, decision_id: str, to: str | None = None) -> ChampionState:
        def back(champion: str | None, previous: str | None) -> tuple[str, str | None]:
            # A champion without a previous one came from a first promotion recorded before `previous`
            # named production: it replaced production all the same.
            target = to or previous or (PRODUCTION if champion else None)
            if not target:
                raise InvalidRequestError(f"app {app!r} was never promoted: production serves it and there is nothing "
                                  "to roll back; name a champion with --to (API: \"to\")")
            return target, champion or PRODUCTION
        return self._set(app, back, decision_id)
