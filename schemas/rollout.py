"""The progressive rollout plan in Redis: the contract between its writers (promote --canary, the
monitor) and its readers (every gateway).

One JSON document per app (schemas/redis_keys.py: `rollout_key`): candidate, champion, steps (percent of chat/completion
traffic the candidate serves), the hold time of each step, which step holds and since when, and the
state. Every change bumps `version`. Gateways serve `share()` of the traffic to the candidate,
sticky by the sampling key (producers/rollout.py: `arm_of`), so every gateway makes the same choice for the same key.
Served figures per (rollout, step, arm) are counted by each gateway and added up in Redis
(schemas/redis_keys.py: `served_stats_key`): the monitor's gates read them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["RolloutState", "RolloutPlan", "Arm", "LATENCY_BUCKETS_MS", "latency_bucket", "STATS_BUCKET_S"]

STATS_BUCKET_S = 5  # served figures are kept per 5-second bucket, so the monitor can read a recent window

RolloutState = Literal["running", "completed", "rolled_back", "aborted"]
Arm = Literal["candidate", "champion"]

# Upper bounds (ms) of the latency histogram the gateways keep per arm; p95 is read from it.
LATENCY_BUCKETS_MS: tuple[float, ...] = (
    5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000,
    float("inf"))


def latency_bucket(latency_ms: float) -> int:
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BUCKETS_MS) - 1


class RolloutPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    rollout_id: str
    app: str
    candidate: str = Field(min_length=1)
    champion: str = Field(description="what serves the rest: a challenger name or `production`")
    steps: list[float] = Field(min_length=1, description="percent of chat/completion traffic per step")
    hold_s: float = Field(gt=0, description="how long each step's gates must hold before the next")
    step_index: int = 0
    state: RolloutState = "running"
    version: int = 1
    started_at: datetime
    step_started_at: datetime
    updated_at: datetime
    reason: str = ""
    decision_id: str = ""

    @field_validator("steps")
    @classmethod
    def _increasing_percents(cls, steps: list[float]) -> list[float]:
        if any(not 0 < p <= 100 for p in steps):
            raise ValueError(f"every step is a percent in (0, 100]; got {steps}")
        if any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"steps must increase; got {steps}")
        return steps

    @property
    def active(self) -> bool:
        return self.state == "running"

    def share(self) -> float:
        """Fraction (0–1) of chat/completion traffic the candidate serves now; 0 unless running."""
        return self.steps[self.step_index] / 100.0 if self.active else 0.0

    @property
    def last_step(self) -> bool:
        return self.step_index == len(self.steps) - 1
