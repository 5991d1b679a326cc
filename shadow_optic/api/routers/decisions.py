"""POST /promote and /rollback (the champion, or a canary), GET /rollout, PUT /costs/budget: changes recorded in
the history with evidence."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from analytics.cost_budget import set_budget
from analytics.history import PublishOutcome
from analytics.service import ActionResult, CanaryRequest, promote, rollback
from shadow_optic.api.auth import Principal, actor, require_role
from shadow_optic.api.models import PromoteRequest, RollbackRequest
from shadow_optic.api.state import ApiState, api_state

router = APIRouter(tags=["decisions"])
State = Annotated[ApiState, Depends(api_state)]
Admin = Annotated[Principal, Depends(require_role("admin"))]


@router.post("/promote", response_model=ActionResult,
             summary="Promote a challenger (default: cheapest passing) if its verdict allows; a refusal is "
                     "recorded and answered with done=false")
async def promote_(who: Admin, state: State, body: PromoteRequest) -> ActionResult:
    from analytics.staleness import kafka_lag

    canary = CanaryRequest(steps=body.steps, hold_s=body.hold_s) if body.mode == "canary" else None
    return await state.ch(promote, state.settings, state.champions, state.app_name(body.app), body.challenger,
                          body.force, actor(who, body.actor), kafka_lag if body.lag_check else None, canary,
                          state.rollouts)


@router.post("/rollback", response_model=ActionResult,
             summary="End a running canary; otherwise restore the previous champion (or `to`)")
async def rollback_(who: Admin, state: State, body: RollbackRequest) -> ActionResult:
    return await state.ch(rollback, state.settings, state.champions, state.app_name(body.app), body.to,
                          body.reason, actor(who, body.actor), state.rollouts)


@router.get("/rollout", summary="The app's rollout plan (null when none) and each arm's served figures on its step",
            dependencies=[Depends(require_role("read"))])
async def rollout_(state: State, app: str | None = None) -> dict:
    def read(_client) -> dict:
        plan = state.rollouts.get(state.app_name(app))
        if plan is None:
            return {"plan": None, "served": None}
        return {"plan": plan.model_dump(mode="json"),
                "served": {arm: state.rollouts.served(plan, arm).as_dict() for arm in ("candidate", "champion")}}
    return await state.ch(read)


class BudgetRequest(BaseModel):
    app: str | None = None
    usd: float | None = Field(None, ge=0, description="the budget; null removes it")
    period: Literal["day", "month"] = "day"
    actor: str = "api"


@router.put("/costs/budget", response_model=PublishOutcome,
            summary="Set (or with usd=null remove) the app's cost budget per day or month: kept in Redis, recorded in "
                    "the history, alerted on by the monitor")
async def put_budget(who: Admin, state: State, body: BudgetRequest) -> PublishOutcome:
    return await state.ch(set_budget, state.settings, state.cost_budgets, state.app_name(body.app), body.usd,
                          body.period, actor(who, body.actor))
