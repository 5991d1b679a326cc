"""The gateway follows the champion registry: after `promote`, production traffic goes to the new
champion; after `rollback`, back. No restart; the switch lands within one poll (SHADOW_GATEWAY_CHAMPION_POLL_S).

The champion is a name. A name found in the challenger registry is served from that challenger's
endpoint and model; any other name (e.g. `production`) means the configured SHADOW_PRODUCTION_URL.
A Redis outage keeps the last known route: the user's path never depends on Redis being up.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from pydantic import BaseModel, SecretStr, ValidationError

from infra.polling import poll_forever
from schemas.redis_keys import champion_key, namespace, registry_hash_key
from schemas.settings import ChallengerConfig

__all__ = ["ChampionRoute", "ChampionFollower"]

log = logging.getLogger(__name__)


class ChampionRoute(BaseModel):
    name: str
    base_url: str
    model: str
    api_key: SecretStr | None = None


class ChampionFollower:
    """Reads the champion of `app` (key `champion_key(champion_key_prefix, app)`) every `poll_s`."""

    def __init__(self, client: aioredis.Redis, *, champion_key_prefix: str, app: str, topic_prefix: str,
                 poll_s: float) -> None:
        self._redis = client
        self._key = champion_key(champion_key_prefix, app)
        self._registry = registry_hash_key(namespace(topic_prefix))
        self._poll_s = poll_s
        self.route: ChampionRoute | None = None  # None: the configured production upstream
        self.version = -1

    async def refresh(self) -> None:
        state = await self._redis.hmget(self._key, ["champion", "version"])
        name = (state[0] or b"").decode() if isinstance(state[0], bytes) else (state[0] or "")
        version = int(state[1] or 0)
        if version == self.version:
            return
        route = None
        if name:
            blob = await self._redis.hget(self._registry, name)
            if blob is not None:
                try:
                    config = ChallengerConfig.model_validate_json(blob)
                    if config.kind == "python":  # runs inside workers: the gateway has no URL to send to
                        log.error("champion %s is an in-process challenger (%s): the gateway cannot serve it, "
                                  "keeping the current route", name, config.target)
                        return
                    route = ChampionRoute(name=name, base_url=config.base_url.rstrip("/"), model=config.model,
                                          api_key=config.api_key)
                except ValidationError as exc:
                    log.error("champion %s has an unreadable registry entry, keeping the current route: %s",
                              name, exc)
                    return
        if route is None and name and name != "production":  # `production`: what a rollback restores
            log.warning("champion %r is not in the challenger registry: serving SHADOW_PRODUCTION_URL", name)
        log.warning("gateway now serves %s (champion registry version %d)",
                    f"{route.name} ({route.model} at {route.base_url})" if route else "the production upstream",
                    version)
        self.route, self.version = route, version

    async def run(self) -> None:
        await poll_forever(self.refresh, self._poll_s, "the champion registry", log)
