"""The challenger registry: one Redis hash every worker follows, changed at run time without restart.

Layout (prefix = "<topic_prefix>shadow"): `<prefix>:challengers` maps name -> ChallengerConfig JSON;
`<prefix>:challengers:version` is bumped in the same transaction as every change, so workers poll
one small key and reload only when it moved.

SHADOW_CHALLENGERS seeds the registry once per configuration change: `<prefix>:challengers:seeded`
holds the digest of the configured list last applied and the digest of each entry in it. A seed with
the same list (every worker start, every `challengers add|remove`) writes nothing; an edited list
applies only the entries that are new or changed since the last seed. So a challenger removed or
changed at run time stays removed or changed until its entry in SHADOW_CHALLENGERS is edited.
Reading the registry never seeds it (`view` shows what a seed would give, without writing).
API keys are stored as given: protect Redis like any secret store.
"""

from __future__ import annotations

import hashlib
import json
import logging

import redis.asyncio as aioredis
from redis.exceptions import WatchError
from pydantic import ValidationError

from schemas.errors import NotFoundError
from schemas.redis_keys import namespace, registry_hash_key, registry_seed_key, registry_version_key
from schemas.settings import ChallengerConfig
from stream_agents.allowed_hosts import AllowedHosts

__all__ = ["ChallengerRegistry", "registry_prefix", "config_to_json", "configuration_digest"]

log = logging.getLogger(__name__)


def registry_prefix(topic_prefix: str) -> str:
    """The Redis namespace of the deployment (schemas.redis_keys.namespace), which every store takes."""
    return namespace(topic_prefix)


def config_to_json(config: ChallengerConfig) -> str:
    data = config.model_dump(mode="json")
    data["api_key"] = config.api_key.get_secret_value() if config.api_key is not None else None
    return json.dumps(data, sort_keys=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def configuration_digest(challengers: list[ChallengerConfig]) -> tuple[str, dict[str, str]]:
    """(digest of the whole configured list, digest of each entry by name); order does not matter."""
    entries = {config.name: _digest(config_to_json(config)) for config in challengers}
    return _digest(json.dumps(entries, sort_keys=True)), entries


def _seed_record(raw: bytes | str | None) -> tuple[str | None, dict[str, str]]:
    """The stored seed record; an absent one, or the bare "1" older versions wrote, knows no entries."""
    if raw is None:
        return None, {}
    try:
        record = json.loads(raw)
        return str(record["digest"]), {str(k): str(v) for k, v in record["entries"].items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        return None, {}


class ChallengerRegistry:
    def __init__(self, client: aioredis.Redis, prefix: str, allowed: AllowedHosts | None = None) -> None:
        """`allowed`: writers (API, CLI) refuse challengers outside it; workers skip them when loading."""
        self._redis = client
        self._allowed = allowed
        self._hash = registry_hash_key(prefix)
        self._version = registry_version_key(prefix)
        self._seeded = registry_seed_key(prefix)

    async def seed(self, challengers: list[ChallengerConfig]) -> bool:
        """Apply the configured challengers (SHADOW_CHALLENGERS) once per change of that list; True if written.

        The same list as the last seed writes nothing, so run-time removals and changes stick. An edited
        list applies the entries that are new or changed since the last seed (configuration wins for
        those names); entries it no longer lists, and challengers added at run time, are left alone.
        """
        digest, entries = configuration_digest(challengers)
        while True:
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(self._seeded)
                    seeded_digest, seeded_entries = _seed_record(await pipe.get(self._seeded))
                    if seeded_digest == digest:
                        return False
                    changed = {config.name: config_to_json(config) for config in challengers
                               if seeded_entries.get(config.name) != entries[config.name]}
                    pipe.multi()
                    pipe.set(self._seeded, json.dumps({"digest": digest, "entries": entries}, sort_keys=True))
                    if changed:
                        pipe.hset(self._hash, mapping=changed)
                        pipe.incr(self._version)
                    await pipe.execute()
                    return bool(changed)
                except WatchError:  # another process seeded at the same moment: read its record again
                    continue

    async def view(self, challengers: list[ChallengerConfig]) -> tuple[int, list[ChallengerConfig]]:
        """What `load` gives after `seed(challengers)`, without writing: for readers (list, GET)."""
        version, configs = await self.load()
        digest, entries = configuration_digest(challengers)
        seeded_digest, seeded_entries = _seed_record(await self._redis.get(self._seeded))
        if seeded_digest == digest:
            return version, configs
        pending = {c.name: c for c in challengers if seeded_entries.get(c.name) != entries[c.name]}
        if not pending:
            return version, configs
        merged = {c.name: c for c in configs} | pending
        return version, [merged[name] for name in sorted(merged)]

    async def put(self, config: ChallengerConfig) -> None:
        """Add or replace a challenger; every worker picks it up at its next refresh."""
        if self._allowed is not None:
            self._allowed.check_challenger(config)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._hash, config.name, config_to_json(config))
            pipe.incr(self._version)
            await pipe.execute()

    async def remove(self, name: str) -> bool:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._hash, name)
            pipe.incr(self._version)
            removed, _ = await pipe.execute()
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
            raise NotFoundError(f"no challenger named {name!r} in the registry (see `shadow-optic challengers list`)")
        return ChallengerConfig.model_validate_json(raw)
