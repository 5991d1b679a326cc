"""The gateway's side of a progressive rollout: which model serves this request, and served figures.

`RolloutFollower` reads the plan from Redis every SHADOW_ROLLOUT_POLL_S (1 s) and the candidate's
endpoint from the challenger registry; `arm_of` is the pure decision (a hash of the rollout and the
sampling key against the step's share), so every gateway sends the same key to the same model and a
key moved to the candidate stays there as the share grows. `ServedStats` counts requests, errors
and a latency histogram per (rollout, step, arm) in memory and adds them to Redis every
SHADOW_ROLLOUT_STATS_FLUSH_S: no Redis call on the user's path, and a Redis outage only delays the
figures (the next flush carries them). A Redis outage keeps the last known plan.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict

from infra.polling import poll_forever
from producers.champion import ChampionRoute
from producers.sampling import SamplingPolicy, sample_point
from schemas.events import Serving
from schemas.redis_keys import namespace, registry_hash_key, rollout_key, served_stats_key
from schemas.rollout import STATS_BUCKET_S, Arm, RolloutPlan, latency_bucket
from schemas.settings import ChallengerConfig, Settings

__all__ = ["arm_of", "RolloutChoice", "RolloutFollower", "ServedStats", "is_error_status", "serving_of"]

log = logging.getLogger(__name__)


def arm_of(rollout_id: str, sampling_key: str, share: float) -> Arm:
    """The candidate serves a key whose point (fixed by rollout and key) falls below the share."""
    if share <= 0:
        return "champion"
    return "candidate" if share >= 1 or sample_point(sampling_key, f"rollout:{rollout_id}") < share else "champion"


def is_error_status(status: int) -> bool:
    """What a caller counts as a failed call: a server error or a rate limit."""
    return status >= 500 or status == 429


class RolloutChoice(BaseModel):
    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    plan: RolloutPlan
    arm: Arm
    route: ChampionRoute | None  # the candidate's endpoint; None on the champion's arm

    def serving(self, champion_name: str, requested_model: str | None = None) -> Serving:
        served_by = self.plan.candidate if self.arm == "candidate" else champion_name
        share = 1.0 if self.plan.state == "completed" else self.plan.share()
        return Serving(served_by=served_by, arm=self.arm, rollout_id=self.plan.rollout_id,
                       rollout_step=self.plan.step_index, rollout_share=share,
                       compare_with=self.plan.champion if self.arm == "candidate" else None,
                       requested_model=requested_model)


def serving_of(choice: RolloutChoice | None, champion_name: str, body: Any = None) -> Serving:
    """What the event records about who served it: the rollout's arm and step, or the champion alone."""
    requested = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
    if choice is not None:
        return choice.serving(champion_name, requested)
    return Serving(served_by=champion_name, requested_model=requested)


class RolloutFollower:
    def __init__(self, settings: Settings, client: aioredis.Redis, sampling: SamplingPolicy) -> None:
        self._redis = client
        self._key = rollout_key(settings.champion_key_prefix, settings.app_name)
        self._registry = registry_hash_key(namespace(settings.topic_prefix))
        self._poll_s = settings.rollout_poll_s
        self._tenant_header = settings.gateway_tenant_header.lower()
        self._sampling = sampling
        self.plan: RolloutPlan | None = None
        self.candidate: ChampionRoute | None = None

    async def refresh(self) -> None:
        raw = await self._redis.get(self._key)
        plan = RolloutPlan.model_validate_json(raw) if raw else None
        if plan == self.plan:
            return
        candidate = None
        if plan is not None and plan.state in ("running", "completed"):
            blob = await self._redis.hget(self._registry, plan.candidate)
            if blob is None:
                log.error("rollout %s: candidate %r is not in the challenger registry; the champion serves all "
                          "traffic until it is", plan.rollout_id, plan.candidate)
                return  # keep the plan unread: retried at the next poll
            config = ChallengerConfig.model_validate_json(blob)
            candidate = ChampionRoute(name=plan.candidate, base_url=config.base_url.rstrip("/"), model=config.model,
                                      api_key=config.api_key)
        if plan is not None:
            log.warning("rollout %s of %s: %s, step %d/%d, candidate serves %.1f %% (plan version %d)",
                        plan.rollout_id, plan.candidate, plan.state, plan.step_index + 1, len(plan.steps),
                        plan.share() * 100, plan.version)
        self.plan, self.candidate = plan, candidate

    def choose(self, headers: Mapping[str, str], body: Any, champion: str) -> RolloutChoice | None:
        """None without a running rollout; otherwise the arm for this request's sampling key. A completed
        rollout keeps the candidate serving until this gateway's champion follower has seen the promotion
        (it polls on its own clock): traffic never falls back to the old champion in between."""
        plan, candidate = self.plan, self.candidate
        if plan is None or candidate is None:
            return None
        if plan.state == "completed":
            if champion == plan.candidate:
                return None
            return RolloutChoice(plan=plan, arm="candidate", route=candidate)
        if not plan.active:
            return None
        lower = {k.lower(): v for k, v in headers.items()}
        key = self._sampling.key(lower, body, lower.get(self._tenant_header), uuid.uuid4().hex)
        arm = arm_of(plan.rollout_id, key, plan.share())
        return RolloutChoice(plan=plan, arm=arm, route=candidate if arm == "candidate" else None)

    async def run(self) -> None:
        await poll_forever(self.refresh, self._poll_s, "the rollout plan", log)


class ServedStats:
    """Served figures per (rollout, step, arm), counted in memory and added to Redis in the background."""

    def __init__(self, settings: Settings, client: aioredis.Redis) -> None:
        self._redis = client
        self._prefix, self._app = settings.champion_key_prefix, settings.app_name
        self._flush_s = settings.rollout_stats_flush_s
        self._pending: dict[tuple[str, int, Arm], Counter[str]] = {}

    def record(self, choice: RolloutChoice, status: int, latency_ms: float) -> None:
        counts = self._pending.setdefault((choice.plan.rollout_id, choice.plan.step_index, choice.arm), Counter())
        bucket = int(time.time() // STATS_BUCKET_S)
        counts[f"{bucket}:requests"] += 1
        counts[f"{bucket}:errors"] += int(is_error_status(status))
        counts[f"{bucket}:lat:{latency_bucket(latency_ms)}"] += 1

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                for (rollout_id, step, arm), counts in pending.items():
                    key = served_stats_key(self._prefix, self._app, rollout_id, step, arm)
                    for field, value in counts.items():
                        pipe.hincrby(key, field, value)
                    pipe.expire(key, 7 * 86400)
                await pipe.execute()
        except Exception:
            for key, counts in pending.items():  # MULTI/EXEC applied none of it: carried to the next flush
                self._pending.setdefault(key, Counter()).update(counts)
            raise

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot add served figures to Redis (kept for the next flush): %r", exc)
