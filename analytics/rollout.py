"""The rollout plan's writer: start a canary, advance a step, complete it, roll it back.

Every change is atomic (WATCH/MULTI on the plan's key) and names the rollout it applies to, so a
monitor that lost its lease, or an operator racing the monitor, cannot move a plan that changed under
it. The gateways read the plan (producers/rollout.py); the monitor drives it (shadow_optic/monitor.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import redis

from infra.redis_clients import redis_options
from schemas.security import RedisSecurity

from schemas.errors import InvalidRequestError
from schemas.redis_keys import rollout_key, served_stats_key
from schemas.rollout import STATS_BUCKET_S, Arm, LATENCY_BUCKETS_MS, RolloutPlan

__all__ = ["RolloutStore", "ServedFigures", "parse_steps", "parse_duration"]


def parse_steps(text: str) -> list[float]:
    """`1,5,25,50,100` -> [1.0, 5.0, 25.0, 50.0, 100.0], with a clear error."""
    try:
        steps = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InvalidRequestError(f"--steps {text!r}: give increasing percents separated by commas, e.g. 1,5,25,50,100") \
            from None
    if not steps:
        raise InvalidRequestError("--steps is empty: give increasing percents, e.g. 1,5,25,50,100")
    return steps


def parse_duration(text: str) -> float:
    """`60s`, `5m`, `2h`, `90` (seconds) -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    raw = text.strip().lower()
    try:
        value = float(raw[:-1]) * units[raw[-1]] if raw and raw[-1] in units else float(raw)
    except ValueError:
        raise InvalidRequestError(f"--hold {text!r}: give a duration such as 60s, 5m or 2h") from None
    if value <= 0:
        raise InvalidRequestError(f"--hold {text!r}: a hold time must be positive")
    return value


class ServedFigures:
    """One arm's served traffic on one step, added up over every gateway."""

    def __init__(self, requests: int, errors: int, buckets: list[int]) -> None:
        self.requests, self.errors, self.buckets = requests, errors, buckets

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def p95_ms(self) -> float | None:
        """The upper bound of the bucket holding the 95th percentile (a histogram: exact to a bucket)."""
        total = sum(self.buckets)
        if not total:
            return None
        rank, seen = 0.95 * total, 0
        for bound, count in zip(LATENCY_BUCKETS_MS, self.buckets):
            seen += count
            if seen >= rank:
                return bound
        return LATENCY_BUCKETS_MS[-1]

    def as_dict(self) -> dict[str, float | int | None]:
        return {"requests": self.requests, "errors": self.errors, "error_rate": self.error_rate,
                "p95_latency_ms": self.p95_ms()}


class RolloutStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis, self._prefix = client, prefix

    @classmethod
    def from_url(cls, url: str, prefix: str, security: RedisSecurity | None = None) -> "RolloutStore":
        return cls(redis.Redis.from_url(url, decode_responses=True, **redis_options(url, security)), prefix)

    def key(self, app: str) -> str:
        return rollout_key(self._prefix, app)

    def get(self, app: str) -> RolloutPlan | None:
        raw = self._redis.get(self.key(app))
        return RolloutPlan.model_validate_json(raw) if raw else None

    def start(self, app: str, candidate: str, champion: str, steps: list[float], hold_s: float,
              decision_id: str = "") -> RolloutPlan:
        now = datetime.now(UTC)
        try:
            plan = RolloutPlan(rollout_id=uuid.uuid4().hex[:12], app=app, candidate=candidate, champion=champion,
                               steps=steps, hold_s=hold_s, started_at=now, step_started_at=now, updated_at=now,
                               decision_id=decision_id)
        except ValueError as exc:
            raise InvalidRequestError(f"rollout plan for {candidate!r}: {exc}") from exc

        def begin(current: RolloutPlan | None) -> RolloutPlan:
            if current is not None and current.active:
                raise InvalidRequestError(f"app {app!r} already has a canary of {current.candidate!r} running (step "
                                  f"{current.step_index + 1}/{len(current.steps)}); roll it back first "
                                  "(`shadow-optic rollback`)")
            return plan.model_copy(update={"version": (current.version + 1) if current else 1})
        return self._change(app, begin)

    def advance(self, app: str, rollout_id: str, reason: str) -> RolloutPlan:
        def step(plan: RolloutPlan) -> RolloutPlan:
            now = datetime.now(UTC)
            return plan.model_copy(update={"step_index": plan.step_index + 1, "step_started_at": now,
                                           "updated_at": now, "reason": reason})
        return self._change(app, self._running(rollout_id, step))

    def finish(self, app: str, rollout_id: str, state: str, reason: str) -> RolloutPlan:
        """completed (the candidate became champion) or rolled_back / aborted (the champion serves all)."""
        def end(plan: RolloutPlan) -> RolloutPlan:
            return plan.model_copy(update={"state": state, "updated_at": datetime.now(UTC), "reason": reason})
        return self._change(app, self._running(rollout_id, end))

    def served(self, plan: RolloutPlan, arm: Arm, step_index: int | None = None,
               since: float | None = None) -> ServedFigures:
        """One arm's figures on a step (default: the current one), all of it or from unix time `since`."""
        index = plan.step_index if step_index is None else step_index
        raw = self._redis.hgetall(served_stats_key(self._prefix, plan.app, plan.rollout_id, index, arm))
        first = -1 if since is None else int(since // STATS_BUCKET_S)
        requests = errors = 0
        buckets = [0] * len(LATENCY_BUCKETS_MS)
        for field, value in raw.items():
            bucket, _, name = field.partition(":")
            if int(bucket) < first:
                continue
            if name == "requests":
                requests += int(value)
            elif name == "errors":
                errors += int(value)
            else:
                buckets[int(name.removeprefix("lat:"))] += int(value)
        return ServedFigures(requests, errors, buckets)

    @staticmethod
    def _running(rollout_id: str, change: Callable[[RolloutPlan], RolloutPlan]
                 ) -> Callable[[RolloutPlan | None], RolloutPlan]:
        def guarded(plan: RolloutPlan | None) -> RolloutPlan:
            if plan is None or plan.rollout_id != rollout_id or not plan.active:
                raise InvalidRequestError(f"rollout {rollout_id} is no longer running (now: "
                                  f"{'none' if plan is None else f'{plan.rollout_id} {plan.state}'})")
            return change(plan)
        return guarded

    def _change(self, app: str, change: Callable[[RolloutPlan | None], RolloutPlan]) -> RolloutPlan:
        key = self.key(app)
        with self._redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    current = RolloutPlan.model_validate_json(raw) if raw else None
                    new = change(current)
                    if current is not None and new.rollout_id == current.rollout_id:
                        new = new.model_copy(update={"version": current.version + 1})
                    pipe.multi()
                    pipe.set(key, new.model_dump_json())
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue  # someone changed the plan between our read and write: read again
