"""Tumbling and sliding drift windows per challenger (optionally per route and tenant).

Two sources with one shape: `view` merges the rollup's states (fast, at-least-once, sketched
quantiles) from the coarsest tier whose buckets each fall inside one window (1-hour, 5-minute or
1-minute buckets); `exact` reads shadow_scores FINAL (each pair once, exact quantiles, numpy's
default 'linear' percentile). Both compute the figures of schemas/clickhouse/figures.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.query import QueryResult
from pydantic import BaseModel, Field, TypeAdapter

from analytics.drift_figures import ROLLUP_TIERS, closed_windows, figures_apply, figures_marks
from analytics.scope import Scope
from schemas.clickhouse import SCORES_TABLE
from schemas.clickhouse.figures import FIGURES, FINISHED
from schemas.errors import InvalidRequestError

__all__ = ["ROLLUP_VIEW", "DriftQuery", "DriftRow", "drift", "drift_columns"]

ROLLUP_VIEW = "shadow_scores_rollup"  # the figures' states in 1-minute, 5-minute and 1-hour buckets (002)
Dimension = Literal["route", "tenant"]


class DriftQuery(BaseModel):
    scope: Scope = Field(default_factory=Scope)
    minutes: int = Field(5, ge=1, description="window length")
    step_minutes: int | None = Field(None, ge=1, description="slide step; None = tumbling (step = length)")
    by: list[Dimension] = Field(default_factory=list)
    source: Literal["view", "exact"] = "view"
    challenger: str = ""


class DriftRow(BaseModel):
    challenger: str
    scorer_version: str = ""  # the one version the row was computed from ('' = the scope pinned none)
    route: str = "*"
    tenant: str = "*"
    window_start: datetime
    window_end: datetime
    rows: int
    ok: int
    errors: int
    error_rate: float
    mean_similarity: float | None
    sd_similarity: float | None
    p05_similarity: float | None
    p50_similarity: float | None
    p95_similarity: float | None
    mean_delta_s: float | None  # ΔS = 1 − similarity
    p95_delta_s: float | None  # = 1 − p05 similarity
    mean_latency_delta_ms: float | None
    p50_latency_delta_ms: float | None
    p95_latency_delta_ms: float | None
    p99_latency_delta_ms: float | None
    p95_production_latency_ms: float | None
    p95_challenger_latency_ms: float | None
    p95_latency_increase: float | None  # p95 challenger / p95 production − 1
    refusal_rate: float | None
    flips: int  # answers where the refusal verdict differs between production and challenger
    flip_rate: float | None
    exact_match_rate: float | None
    production_cost_usd: float
    challenger_cost_usd: float
    cost_delta_usd: float
    challenger_tokens: int


_EXACT_EXPR = {name: figure.exact for name, figure in FIGURES.items()}
_MERGE_EXPR = {name: figure.merge for name, figure in FIGURES.items()}


def _sql(q: DriftQuery, marks: tuple[datetime, list[datetime]] | None = None) -> tuple[str, dict]:
    """(SQL, extra parameters) of the windows of `q`, before their finishing (FINISHED).

    With `marks` (the figures' watermark and dirty hours), closed windows are read as stored figures
    (analytics/drift_figures.py) and the open part merges states only for the rest.
    """
    step = q.step_minutes or q.minutes
    if q.minutes % step:
        raise InvalidRequestError(f"window of {q.minutes} min cannot slide by {step} min: use a step that divides the window")
    # The source: the rollup's coarsest fitting tier (states, merged), or every pair once (exact).
    if q.source == "view":
        source, ts, figures, tier = ROLLUP_VIEW, "bucket", _MERGE_EXPR, [f"bucket_minutes = {_tier(q, step)}", _split(q)]
    else:
        source, ts, figures, tier = f"{SCORES_TABLE} FINAL", "ts_request", _EXACT_EXPR, []
    # Only the terms that apply: ClickHouse plans every term before it reads a row (10-20 ms a read).
    rows = [q.scope.where(ts)] + (["challenger = {challenger:String}"] if q.challenger else [])
    where = tier + rows
    # A row belongs to every window that covers it: minutes/step windows when sliding, one when tumbling.
    start = f"toStartOfInterval({ts}, toIntervalMinute({q.minutes}))" if step == q.minutes else \
        (f"arrayJoin(arrayMap(k -> toStartOfInterval({ts}, toIntervalMinute({step})) - toIntervalMinute(k * {step}), "
         f"range({q.minutes // step})))")
    # Sliding windows start in [since, until): one starting earlier would see part of its rows.
    having = ["window_start >= {since:DateTime64(3, 'UTC')}"] if step != q.minutes and q.scope.since else []
    keys = ", ".join(["challenger", *q.by])
    closed, params = None, {}
    if marks is not None:
        closed = closed_windows(q.minutes, step, marks, split=_split(q), keys=keys, where=" AND ".join(rows),
                                until=q.scope.until is not None)
        where.append(closed.open_buckets)
        having.append(closed.open_windows)
        params = closed.params
    merged = ",\n    ".join(f"{expr} AS {name}" for name, expr in figures.items())
    open_part = (f"SELECT {keys}, toDateTime({start}, 'UTC') AS window_start,\n    {merged}\n"
                 f"FROM {source}\nWHERE {' AND '.join(where)}\nGROUP BY {keys}, window_start"
                 + (f"\nHAVING {' AND '.join(having)}" if having else ""))
    order = f"ORDER BY {keys}, window_start"
    if closed is None:
        return f"{open_part}\n{order}", params
    return f"SELECT * FROM (\n{closed.stored}\nUNION ALL\n{open_part}\n)\n{order}", params


def _split(q: DriftQuery) -> str:
    """Which rows of a view or of the figures hold the split the query asks for ('*' = all of them)."""
    return "tenant != '*'" if "tenant" in q.by else \
        "route != '*' AND tenant = '*'" if q.by else "route = '*' AND tenant = '*'"


def _uses_figures(q: DriftQuery) -> bool:
    """Stored figures exist per window of one app and scorer version, unsplit or by route, for the
    window lengths of FIGURE_WINDOWS starting on their grid (drift_figures.figures_apply)."""
    step = q.step_minutes or q.minutes
    return q.source == "view" and "tenant" not in q.by and bool(q.scope.app and q.scope.scorer_version) \
        and _tier(q, step) != 1 and figures_apply(q.minutes, step, q.scope.since)


def _aligned(at: datetime | None, minutes: int) -> bool:
    return at is None or at.replace(tzinfo=at.tzinfo or UTC).timestamp() % (minutes * 60) == 0


def _view_source(q: DriftQuery, step: int) -> tuple[str, str, str]:
    """(table, time column, extra filter): the coarsest rollup tier whose buckets each fall in one window.

    Merging t-digest states is what a view query costs, so fewer, coarser states are the speed-up;
    a bucket may be used only if the window, the step and the scope's edges all fall on its bounds.
    The 1-minute tier takes whatever the others cannot.
    """
    return ROLLUP_VIEW, "bucket", f"bucket_minutes = {_tier(q, step)} AND {_split(q)} AND "


def _tier(q: DriftQuery, step: int) -> int:
    return next((tier for tier in ROLLUP_TIERS if q.minutes % tier == 0 and step % tier == 0
                 and _aligned(q.scope.since, tier) and _aligned(q.scope.until, tier)), ROLLUP_TIERS[-1])


_DRIFT_ROWS = TypeAdapter(list[DriftRow])


def drift(client: Client, q: DriftQuery, refresh: bool = True) -> list[DriftRow]:
    """Drift windows of `q`. `refresh=False` reads without first finalizing newly closed hours (same
    answer, maybe slower)."""
    return _DRIFT_ROWS.validate_python(list(_query(client, q, refresh).named_results()))


def drift_columns(client: Client, q: DriftQuery, fields: Sequence[str], refresh: bool = True) -> dict[str, Sequence]:
    """`fields` of the windows of drift(), as columns (DriftRow field name -> values, in the same order):
    for callers that scan thousands of windows (alerts), where building a DriftRow each costs more than
    the query. ClickHouse then skips the figures (and the sketches merged for them) nobody asked for."""
    unknown = set(fields) - set(DriftRow.model_fields)
    if unknown:
        raise InvalidRequestError(f"no drift figure named {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(DriftRow.model_fields)}")
    result = _query(client, q, refresh, fields)
    if not result.row_count:
        return {name: [] for name in fields}
    return dict(zip(result.column_names, result.result_columns))


def _query(client: Client, q: DriftQuery, refresh: bool, fields: Sequence[str] | None = None) -> QueryResult:
    figures = figures_marks(client, refresh) if _uses_figures(q) else None
    sql, extra = _sql(q, figures)
    route = "route" if "route" in q.by else "'*' AS route"
    tenant = "tenant" if "tenant" in q.by else "'*' AS tenant"
    columns = {"challenger": "challenger", "scorer_version": "{scorer_version:String} AS scorer_version",
               "route": route, "tenant": tenant, "window_start": "window_start",
               "window_end": f"window_start + toIntervalMinute({q.minutes}) AS window_end",
               **{name: f"{expr} AS {name}" for name, expr in FINISHED.items()}}
    wanted = ",\n    ".join(columns[name] for name in (fields or columns))
    outer = f"SELECT {wanted}\nFROM (\n{sql}\n)"
    # With FINAL, ClickHouse skips granules by the ts_request min/max index only when asked to, and
    # widens them across parts unless told that copies of a row never span partitions (they share
    # ts_request, the partition key).
    return client.query(outer, parameters={**q.scope.params(), "challenger": q.challenger, **extra},
                        settings={"use_skip_indexes_if_final": 1, "do_not_merge_across_partitions_select_final": 1})
