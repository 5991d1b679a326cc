"""Request and response bodies of the control API that are not already analytics/schemas models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics.lag import PartitionLag
from analytics.reports.overview import HealthMark, RecentHealth
from schemas.events import ChatMessage, ShadowStatus, Usage

__all__ = ["ErrorBody", "ServiceCheck", "ApiHealth", "LagReport", "DeployResult", "RemoveResult", "ChallengerHealth",
           "TestCallRequest", "TestCallResult", "PromoteRequest", "RollbackRequest"]


class ErrorBody(BaseModel):
    error: str = Field(description="kind of error, e.g. ConfigError, NotFound, ValidationError")
    message: str = Field(description="what was wrong and what to do")
    retriable: bool = False
    detail: list[dict[str, Any]] | None = None


class ServiceCheck(BaseModel):
    ok: bool
    error: str | None = None


class ApiHealth(BaseModel):
    status: Literal["ok", "degraded"]
    clickhouse: ServiceCheck
    redis: ServiceCheck


class LagReport(BaseModel):
    group: str
    state: str
    checked_at: datetime
    total_lag: int
    max_lag_seconds: float
    partitions: list[PartitionLag]


class DeployResult(BaseModel):
    name: str
    replaced: bool = Field(description="a challenger of that name was there and is now replaced")
    registry_version: int


class RemoveResult(BaseModel):
    name: str
    removed: bool
    registry_version: int


class ChallengerHealth(BaseModel):
    challenger: str
    health: HealthMark
    reachable: bool | None = Field(None, description="GET {base_url}/models answered 2xx; None: not probed (json kind)")
    probe_status: int | None = None
    probe_latency_ms: float | None = None
    probe_error: str | None = None
    recent: RecentHealth | None = None
    window_minutes: int


class TestCallRequest(BaseModel):
    prompt: str | None = Field(None, description="chat: sent as one user message; completion: the prompt")
    messages: list[ChatMessage] = Field(default_factory=list, description="chat messages (instead of prompt)")
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens…; json kind: the body")


class TestCallResult(BaseModel):
    challenger: str
    status: ShadowStatus
    text: str
    latency_ms: float | None
    usage: Usage | None
    cost_usd: float | None
    error: str | None
    attempts: int


class PromoteRequest(BaseModel):
    app: str | None = Field(None, description="default: SHADOW_APP_NAME")
    challenger: str = Field("", description="default: the cheapest challenger with a promote verdict")
    force: bool = Field(False, description="also promote a manual_review verdict (recorded as forced)")
    actor: str = "api"
    lag_check: bool = Field(True, description="hold the verdict back while consumer lag makes the window stale")
    mode: Literal["now", "canary"] = Field("now", description="now: switch all traffic at once; canary: a "
                                                             "progressive rollout the monitor drives")
    steps: list[float] | None = Field(None, description="canary: percents, e.g. [1, 5, 25, 50, 100] (default: "
                                                        "the verdict's plan)")
    hold_s: float | None = Field(None, gt=0, description="canary: hold time per step in seconds")


class RollbackRequest(BaseModel):
    app: str | None = None
    to: str | None = Field(None, description="default: the previous champion (`production` after the first "
                                             "promotion)")
    reason: str = "operator rollback"
    actor: str = "api"
