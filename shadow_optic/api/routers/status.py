"""GET /healthz, /status, /lag: is the API up, the overview of an app, consumer lag."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from analytics.reports.overview import Overview, RegisteredChallenger, gather_overview
from shadow_optic.api.auth import require_role
from shadow_optic.api.models import ApiHealth, LagReport, ServiceCheck
from shadow_optic.api.state import ApiState, api_state

router = APIRouter(tags=["status"])
State = Annotated[ApiState, Depends(api_state)]


@router.get("/healthz", response_model=ApiHealth, summary="Liveness of the API and its stores")
async def healthz(state: State) -> ApiHealth:
    checks = {}
    try:
        await state.ch(lambda client: client.command("SELECT 1"))
        checks["clickhouse"] = ServiceCheck(ok=True)
    except Exception as exc:  # a health check reports, it does not raise
        checks["clickhouse"] = ServiceCheck(ok=False, error=str(exc)[:300])
    try:
        await state.redis.ping()
        checks["redis"] = ServiceCheck(ok=True)
    except Exception as exc:
        checks["redis"] = ServiceCheck(ok=False, error=str(exc)[:300])
    return ApiHealth(status="ok" if all(c.ok for c in checks.values()) else "degraded", **checks)


@router.get("/status", response_model=Overview, dependencies=[Depends(require_role("read"))],
            summary="Champion, challengers with figures, verdicts, health marks, promotion progress and lag")
async def status(state: State, app: str | None = None,
                 lag_check: Annotated[bool, Query(description="read consumer lag; stale windows get no verdict")] = True,
                 health_minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 15) -> Overview:
    from shadow_optic.dashboard import read_lag

    app_name = state.app_name(app)
    _, configs = await state.challengers.view(state.settings.challengers)  # read only, as GET /challengers
    registered = [RegisteredChallenger(name=c.name, model=c.model, control=c.control) for c in configs]
    lag = await state.lag(lambda monitor: read_lag(state.settings, monitor)) if lag_check else None
    champion = await state.ch(lambda _client: state.champions.current(app_name))
    return await state.ch(gather_overview, state.settings, app_name, champion, registered, lag, health_minutes)


@router.get("/lag", response_model=list[LagReport], dependencies=[Depends(require_role("read"))], summary="Consumer lag per partition (messages and seconds)")
async def lag(state: State, group: Annotated[list[str] | None, Query(description="default: the worker's group")] = None
              ) -> list[LagReport]:
    groups = group or [state.settings.consumer_group]

    def read(monitor) -> list[LagReport]:  # noqa: ANN001 - analytics.lag.LagMonitor
        out = []
        for name in groups:
            g = monitor.describe(name)
            out.append(LagReport(group=g.group, state=g.state, checked_at=g.checked_at, total_lag=g.total_lag,
                                 max_lag_seconds=g.max_lag_seconds, partitions=g.partitions))
        return out
    return await state.lag(read)
