"""The cost budget set at run time (CLI `costs --set-budget`, API PUT /costs/budget): kept in Redis,
recorded in the history. It raises an alert (the monitor's webhook and gauge, `costs` reports); it
never stops a call: the per-challenger spend caps (SHADOW_CHALLENGERS' budget_usd) do that.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import redis
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, Field

from analytics.history import PublishOutcome, new_decision, record_decision
from infra.redis_clients import redis_options
from schemas.security import RedisSecurity
from schemas.redis_keys import cost_budget_key
from schemas.settings import Settings

__all__ = ["CostBudget", "CostBudgetStore", "set_budget"]


class CostBudget(BaseModel):
    usd: float = Field(ge=0)
    period: Literal["day", "month"] = "day"
    set_at: datetime
    actor: str = "shadow-optic"


class CostBudgetStore:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._redis, self._prefix = client, prefix

    @classmethod
    def from_url(cls, url: str, prefix: str, security: RedisSecurity | None = None) -> "CostBudgetStore":
        return cls(redis.Redis.from_url(url, decode_responses=True, **redis_options(url, security)), prefix)

    def key(self, app: str) -> str:
        return cost_budget_key(self._prefix, app)

    def get(self, app: str) -> CostBudget | None:
        raw = self._redis.get(self.key(app))
        return CostBudget.model_validate_json(raw) if raw else None

    def put(self, app: str, budget: CostBudget | None) -> None:
        if budget is None:
            self._redis.delete(self.key(app))
        else:
            self._redis.set(self.key(app), budget.model_dump_json())


def set_budget(client: Client, settings: Settings, store: CostBudgetStore, app: str, usd: float | None,
               period: Literal["day", "month"] = "day", actor: str = "shadow-optic") -> PublishOutcome:
    """Set (or with usd=None remove) the app's cost budget, and record it in the history."""
    before = store.get(app)
    budget = None if usd is None else CostBudget(usd=usd, period=period, set_at=datetime.now(UTC), actor=actor)
    store.put(app, budget)
    reason = f"cost budget removed (was ${before.usd:g} per {before.period})" if budget is None and before else \
        "cost budget removed" if budget is None else f"cost budget set to ${budget.usd:g} per {budget.period}"
    return record_decision(client, settings, new_decision(
        app, "budget", "", "set" if budget else "removed", reason, None,
        {"before": before.model_dump(mode="json") if before else None,
         "after": budget.model_dump(mode="json") if budget else None}, actor))
