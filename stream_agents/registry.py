"""The challenger registry: one Redis hash every worker follows, changed at run time without restart.

Layout (prefix = "<topic_prefix>shadow"): `<prefix>:challengers` maps name -> ChallengerConfig JSON;
`<prefix>:challengers:version` is bumped in the same transaction as every change, so workers poll
one small key and reload only when it moved. SHADOW_CHALLENGERS seeds the registry once (the first
worker to start), so a challenger removed at run time does not come back with the next restart.
API keys are stored as given: protect Redis like any secret store.
"""

from __future__ import annotations

import json
import logging

import redis.asyncio as aioredis
from pydantic import ValidationError

from schemas.errors import ConfigError
from schemas.settings import ChallengerConfig

__all__ = ["ChallengerRegistry", "registry_prefix", "config_to_json"]

log = logging.getLogger(__name__)


def registry_prefix(topic_prefix: str) -> str:
    return f"{topic_prefix}shadow"


def config_to_json(config: ChallengerConfig) -> str:
    data = config.model_dump(mode="json")
    data["api_key"] = config.api_key.get_secret_value() if config.api_key is not None else None
    return json.dumps(data, sort_keys=True)


class ChallengerRegistry:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._hash = f"{prefix}:challengers"
        self._version = f"{prefix}:challengers:version"
        self._seeded = f"{prefix}:challengers:seeded"

    async def seed(self, challengers: list[ChallengerConfig]) -> bool:
        """Upsert the configured challengers (SHADOW_CHALLENGERS); True if the registry changed.

        Configuration wins for the names it lists, so an edited SHADOW_CHALLENGERS takes effect at
        the next start; challengers added at run time under other names are kept.
        """
        if not challengers:
            await self._redis.set(self._seeded, b"1", nx=True)
            return False
        wanted = {config.name: config_to_json(config) for config in challengers}
        current = await self._redis.hmget(self._hash, list(wanted))
        changed = {name: blob for (name, blob), old in zip(wanted.items(), current)
                   if old is None or (old.decode() if isinstance(old, bytes) else old) != blob}
        if not changed:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._seeded, b"1")
            pipe.hset(self._hash, mapping=changed)
            pipe.incr(self._version)
            await pipe.execute()
        return True

    async def put(self, config: ChallengerConfig) -> None:
        """Add or replace a challenger; every worker picks it up at its next refresh."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._seeded, b"1")  # a registry written by hand is never seeded over
            pipe.hset(self._hash, config.name, config_to_json(config))
            pipe.incr(self._version)
            await pipe.execute()

    async def remove(self, name: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._seeded, b"1")
            pipe.hdel(self._hash, name)
            pipe.incr(self._version)
            removed, _ = (await pipe.execute())[1:]
        return bool(removed)

    async def version(self) -> int:
        return int(await self._redis.get(self._version) or 0)

    async def load(self) -> tuple[int, list[ChallengerConfig]]:
        """(version, challengers sorted by name); an entry that no longer validates is skipped, loudly."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._version)
            pipe.hgetall(self._hash)
            version, raw = await pipe.execute()
        configs = []
        for name, value in sorted(raw.items()):
            try:
                configs.append(ChallengerConfig.model_validate_json(value))
            except ValidationError as exc:
                log.error("challenger %r in the registry is invalid and is ignored: %s", name, exc)
        return int(version or 0), configs

    async def get(self, name: str) -> ChallengerConfig:
        raw = await self._redis.hget(self._hash, name)
        if raw is None:
            raise ConfigError(f"no challenger named {name!r} in the registry (see `shadow-optic challengers list`)")
        return ChallengerConfig.model_validate_json(raw)
