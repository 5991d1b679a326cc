"""What the HTML report shows, gathered from ClickHouse (and Kafka for lag) into one pydantic model."""

from __future__ import annotations

from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, Field

from analytics.costs import CostLine, cost_report
from analytics.lag import GroupLag
from analytics.scope import Scope, nan_to_none
from analytics.service import PromotionReport
from analytics.windows import DriftQuery, DriftRow, drift
from schemas.clickhouse import SCORES_TABLE
from schemas.settings import Settings

__all__ = ["DelayPoint", "ReportData", "gather_report", "pick_window_minutes"]

_NICE_MINUTES = (1, 5, 15, 30, 60, 180, 360, 720, 1440)


class DelayPoint(BaseModel):
    """Pipeline delay per window: ts_scored − ts_request, i.e. how far behind the stream ran then."""

    window_start: datetime
    p50_s: float | None
    p95_s: float | None
    rows: int


class ReportData(BaseModel):
    app: str
    generated_at: datetime
    scorer_version: str
    window_minutes: int
    verdicts: PromotionReport
    series: list[DriftRow] = Field(default_factory=list)
    latency_samples: dict[str, list[float]] = Field(default_factory=dict, description="'production' + challengers")
    control: list[str] = Field(default_factory=list, description="control challengers (the noise floor)")
    cost_summary: list[CostLine] = Field(default_factory=list)
    cost_hourly: list[CostLine] = Field(default_factory=list)
    delay: list[DelayPoint] = Field(default_factory=list)
    lag: GroupLag | None = None
    lag_error: str | None = None


def pick_window_minutes(first: datetime | None, last: datetime | None, target_windows: int = 48) -> int:
    """A round window length giving about `target_windows` points over the data's span."""
    if first is None or last is None:
        return 5
    span = (last - first).total_seconds() / 60
    for minutes in _NICE_MINUTES:
        if span / minutes <= target_windows:
            return minutes
    return _NICE_MINUTES[-1]


def _span(client: Client, scope: Scope) -> tuple[datetime | None, datetime | None, list[str]]:
    result = client.query(f"SELECT min(ts_request), max(ts_request), count(), groupUniqArrayIf(challenger, is_control) "
                          f"FROM {SCORES_TABLE} WHERE {scope.where()}", parameters=scope.params())
    first, last, n, control = result.result_rows[0]
    return (first, last, sorted(control)) if n else (None, None, [])


def _latency_samples(client: Client, scope: Scope, per_series: int) -> dict[str, list[float]]:
    where, params = scope.where(), {**scope.params(), "n": per_series}
    # Reservoir samples: a distribution plot needs thousands of points, not millions.
    prod = client.query(f"SELECT groupArraySample({{n:UInt32}}, 42)(l) FROM (SELECT event_id, any(production_latency_ms) "
                        f"AS l FROM {SCORES_TABLE} FINAL WHERE {where} GROUP BY event_id)", parameters=params)
    out = {"production": [float(v) for v in prod.result_rows[0][0]]} if prod.result_rows else {}
    rows = client.query(f"SELECT challenger, groupArraySample({{n:UInt32}}, 42)(assumeNotNull(challenger_latency_ms)) "
                        f"FROM {SCORES_TABLE} FINAL WHERE {where} AND status = 'ok' AND challenger_latency_ms IS NOT NULL "
                        "GROUP BY challenger ORDER BY challenger", parameters=params)
    out.update({name: [float(v) for v in values] for name, values in rows.result_rows})
    return out


def _delay(client: Client, scope: Scope, minutes: int) -> list[DelayPoint]:
    result = client.query(
        f"SELECT toStartOfInterval(ts_request, toIntervalMinute({{m:UInt32}})) AS w, "
        "quantiles(0.5, 0.95)(dateDiff('millisecond', ts_request, ts_scored) / 1000) AS q, count() AS n "
        f"FROM {SCORES_TABLE} WHERE {scope.where()} GROUP BY w ORDER BY w", parameters={**scope.params(), "m": minutes})
    return [DelayPoint(window_start=w.replace(tzinfo=UTC) if w.tzinfo is None else w, p50_s=nan_to_none(q[0]),
                       p95_s=nan_to_none(q[1]), rows=n) for w, q, n in result.result_rows]


def gather_report(client: Client, settings: Settings, scope: Scope, verdicts: PromotionReport,
                  lag: GroupLag | None = None, lag_error: str | None = None, window_minutes: int = 0,
                  latency_points: int = 5000) -> ReportData:
    first, last, control = _span(client, scope)
    minutes = window_minutes or pick_window_minutes(first, last)
    costs = cost_report(client, settings, scope, top=0)
    return ReportData(
        app=scope.app, generated_at=datetime.now(UTC), scorer_version=scope.scorer_version, window_minutes=minutes,
        verdicts=verdicts, series=drift(client, DriftQuery(scope=scope, minutes=minutes, source="view")),
        latency_samples=_latency_samples(client, scope, latency_points), control=control,
        cost_summary=costs.summary, cost_hourly=costs.hourly, delay=_delay(client, scope, minutes), lag=lag,
        lag_error=lag_error)
