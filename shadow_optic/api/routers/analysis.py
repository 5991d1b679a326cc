"""GET /comparison, /challengers/{name}/comparison, /history, /costs, /readiness, /drift."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from analytics.costs import CostReport, cost_report
from analytics.history import list_history
from analytics.promotion import Verdict
from analytics.readiness import Readiness, readiness
from analytics.scope import Scope, one_scorer_version
from analytics.service import PromotionReport, decision_scope, verdicts
from analytics.windows import DriftQuery, DriftRow
from schemas.errors import NotFoundError
from schemas.events import DecisionRecord
from shadow_optic.api.auth import require_role
from shadow_optic.api.state import ApiState, api_state

router = APIRouter(tags=["analysis"], dependencies=[Depends(require_role("read"))])
State = Annotated[ApiState, Depends(api_state)]
LagCheck = Annotated[bool, Query(description="hold verdicts back while consumer lag makes the window stale")]


async def _report(state: ApiState, app: str | None, scorer_version: str, lag_check: bool) -> PromotionReport:
    from analytics.staleness import kafka_lag

    return await state.ch(verdicts, state.settings, state.app_name(app), scorer_version,
                          kafka_lag if lag_check else None)


@router.get("/comparison", response_model=PromotionReport,
            summary="Every challenger against production: verdict, score, gates, evidence, recommendation")
async def comparison(state: State, app: str | None = None, scorer_version: str = "",
                     lag_check: LagCheck = True) -> PromotionReport:
    return await _report(state, app, scorer_version, lag_check)


@router.get("/challengers/{name}/comparison", response_model=Verdict,
            summary="One challenger against production: verdict, score, every gate, canary plan")
async def challenger_comparison(state: State, name: str, app: str | None = None, scorer_version: str = "",
                                lag_check: LagCheck = True) -> Verdict:
    report = await _report(state, app, scorer_version, lag_check)
    for verdict in report.verdicts:
        if verdict.challenger == name:
            return verdict
    raise NotFoundError(f"no scored rows for challenger {name!r} in app {state.app_name(app)!r} "
                        f"(scorer {report.scorer_version or '—'}); controls have no verdict")


@router.get("/history", response_model=list[DecisionRecord], summary="Verdicts, promotions and rollbacks")
async def history(state: State, app: str | None = None,
                  kind: Literal["", "verdict", "promote", "rollback", "deploy", "remove", "canary", "step", "budget"] = "",
                  limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[DecisionRecord]:
    return await state.ch(list_history, state.app_name(app), limit, kind)


@router.get("/costs", response_model=CostReport,
            summary="Cost summary, trend over `days`, hourly, the month so far and its projection, budget alerts, "
                    "top expensive")
async def costs(state: State, app: str | None = None, top: Annotated[int, Query(ge=0, le=1000)] = 10,
                days: Annotated[int | None, Query(ge=1, le=3660)] = None) -> CostReport:
    def run(client) -> CostReport:  # noqa: ANN001
        kept = state.cost_budgets.get(state.app_name(app))
        return cost_report(client, state.settings, Scope(app=state.app_name(app)), top, days,
                           kept.usd if kept else None, kept.period if kept else None)
    return await state.ch(run)


@router.get("/readiness", response_model=list[Readiness], summary="Teacher/student readiness of each challenger")
async def readiness_(state: State, app: str | None = None) -> list[Readiness]:
    def run(client) -> list[Readiness]:  # noqa: ANN001
        return readiness(client, state.settings, decision_scope(client, state.settings, state.app_name(app)))
    return await state.ch(run)


@router.get("/drift", response_model=list[DriftRow],
            summary="Tumbling or sliding drift windows per challenger, of one scorer version")
async def drift_(state: State, response: Response, app: str | None = None, challenger: str = "",
                 minutes: Annotated[int, Query(ge=1, le=7 * 24 * 60)] = 5,
                 step: Annotated[int | None, Query(ge=1, description="slide step; default tumbling")] = None,
                 by: Annotated[list[Literal["route", "tenant"]] | None, Query()] = None,
                 exact: Annotated[bool, Query(description="read shadow_scores FINAL, exact quantiles")] = False,
                 scorer_version: Annotated[list[str] | None, Query(
                     description="the one scorer version to read (default: the latest of the app); several is "
                                 "a 400, never a mix. Every row and the X-Shadow-Scorer-Version header name it")
                 ] = None) -> list[DriftRow]:
    def run(client) -> list[DriftRow]:  # noqa: ANN001
        version = one_scorer_version(client, state.app_name(app), scorer_version)
        response.headers["X-Shadow-Scorer-Version"] = version
        query = DriftQuery(scope=Scope(app=state.app_name(app), scorer_version=version), minutes=minutes,
                           step_minutes=step, by=by or [], source="exact" if exact else "view", challenger=challenger)
        return state.drift_cache.run(client, query)  # closed windows come from the cache
    return await state.ch(run)
