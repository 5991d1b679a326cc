"""Tumbling and sliding drift windows per challenger (optionally per route and tenant).

Two sources with one shape: `view` merges pre-aggregated -State values (fast, at-least-once,
sketched quantiles) from the coarsest tier that fits the window: 1-hour or 5-minute buckets
(shadow_scores_rollup), else 1-minute; `exact` reads shadow_scores FINAL (each pair once, exact
quantiles, the same definition as numpy's default 'linear' percentile).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, Field

from analytics.scope import Scope, nan_to_none
from schemas.clickhouse import SCORES_TABLE
from schemas.errors import ConfigError

__all__ = ["MINUTE_VIEW", "CHALLENGER_MINUTE_VIEW", "ROLLUP_VIEW", "DriftQuery", "DriftRow", "drift"]

MINUTE_VIEW = "shadow_scores_minute"
CHALLENGER_MINUTE_VIEW = "shadow_scores_minute_challenger"  # no route/tenant split: far fewer states
ROLLUP_VIEW = "shadow_scores_rollup"  # 5-minute and 1-hour tiers of the same states (migration 012)
ROLLUP_TIERS = (60, 5)  # minutes, coarsest first
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
    mean_judge_score: float | None
    production_cost_usd: float
    challenger_cost_usd: float
    cost_delta_usd: float
    challenger_tokens: int


_VIEW_EXPR = {
    "rows": "countMerge(rows)", "ok": "countIfMerge(ok)", "errors": "countIfMerge(errors)",
    "sim_n": "countIfMerge(sim_n)", "sim_sum": "sumIfMerge(sim_sum)", "sim_sq": "sumIfMerge(sim_sq)",
    "sim_q": "quantilesTDigestIfMerge(0.05, 0.5, 0.95)(sim_q)",
    "lat_n": "countIfMerge(lat_n)", "lat_sum": "sumIfMerge(lat_sum)",
    "lat_q": "quantilesTDigestIfMerge(0.5, 0.95, 0.99)(lat_q)",
    "prod_lat_q": "quantilesTDigestMerge(0.5, 0.95, 0.99)(prod_lat_q)",
    "ch_lat_q": "quantilesTDigestIfMerge(0.5, 0.95, 0.99)(ch_lat_q)",
    "refusal_n": "countIfMerge(refusal_n)", "refusals": "countIfMerge(refusals)", "flips": "countIfMerge(flips)",
    "exact_matches": "countIfMerge(exact_matches)", "judge_n": "countIfMerge(judge_n)",
    "judge_sum": "sumIfMerge(judge_sum)", "prod_cost": "sumMerge(prod_cost)", "ch_cost": "sumMerge(ch_cost)",
    "delta_cost": "sumMerge(delta_cost)", "ch_tokens": "sumMerge(ch_tokens)",
}
_SIM_OK = "status = 'ok' AND similarity IS NOT NULL"
_LAT_OK = "status = 'ok' AND latency_delta_ms IS NOT NULL"
_EXACT_EXPR = {
    "rows": "count()", "ok": "countIf(status = 'ok')", "errors": "countIf(status IN ('error', 'timeout'))",
    "sim_n": f"countIf({_SIM_OK})", "sim_sum": f"sumIf(ifNull(similarity, 0.), {_SIM_OK})",
    "sim_sq": f"sumIf(ifNull(similarity, 0.) * ifNull(similarity, 0.), {_SIM_OK})",
    "sim_q": f"quantilesExactInclusiveIf(0.05, 0.5, 0.95)(ifNull(similarity, 0.), {_SIM_OK})",
    "lat_n": f"countIf({_LAT_OK})", "lat_sum": f"sumIf(ifNull(latency_delta_ms, 0.), {_LAT_OK})",
    "lat_q": f"quantilesExactInclusiveIf(0.5, 0.95, 0.99)(ifNull(latency_delta_ms, 0.), {_LAT_OK})",
    "prod_lat_q": "quantilesExactInclusive(0.5, 0.95, 0.99)(production_latency_ms)",
    "ch_lat_q": "quantilesExactInclusiveIf(0.5, 0.95, 0.99)(ifNull(challenger_latency_ms, 0.), "
                "status = 'ok' AND challenger_latency_ms IS NOT NULL)",
    "refusal_n": "countIf(refusal_challenger IS NOT NULL)", "refusals": "countIf(ifNull(refusal_challenger, false))",
    "flips": "countIf(ifNull(refusal_production != refusal_challenger, false))",
    "exact_matches": "countIf(ifNull(exact_match, false))", "judge_n": "countIf(judge_score IS NOT NULL)",
    "judge_sum": "sumIf(ifNull(judge_score, 0.), judge_score IS NOT NULL)", "prod_cost": "sum(production_cost_usd)",
    "ch_cost": "sum(challenger_cost_usd)", "delta_cost": "sum(cost_delta_usd)",
    "ch_tokens": "sum(toUInt64(challenger_prompt_tokens + challenger_completion_tokens))",
}


def _sql(q: DriftQuery) -> str:
    step = q.step_minutes or q.minutes
    if q.minutes % step:
        raise ConfigError(f"window of {q.minutes} min cannot slide by {step} min: use a step that divides the window")
    table, ts, tier_filter = _view_source(q, step) if q.source == "view" else \
        (f"{SCORES_TABLE} FINAL", "ts_request", "")
    exprs = _EXACT_EXPR if q.source == "exact" else _VIEW_EXPR
    # A row belongs to every window that covers it: minutes/step windows when sliding, one when tumbling.
    start = (f"arrayJoin(arrayMap(k -> toStartOfInterval({ts}, toIntervalMinute({step})) - toIntervalMinute(k * {step}), "
             f"range({q.minutes // step})))") if step != q.minutes else \
        f"toStartOfInterval({ts}, toIntervalMinute({q.minutes}))"
    dims = "".join(f", {d}" for d in q.by)
    select = ",\n    ".join(f"{expr} AS {name}" for name, expr in exprs.items())
    return (f"SELECT challenger{dims}, toDateTime({start}, 'UTC') AS window_start,\n    {select}\n"
            f"FROM {table}\nWHERE {tier_filter}{q.scope.where(ts)} AND ({{challenger:String}} = '' OR challenger = {{challenger:String}})\n"
            f"GROUP BY challenger{dims}, window_start\nORDER BY challenger{dims}, window_start")


def _aligned(at: datetime | None, minutes: int) -> bool:
    return at is None or at.replace(tzinfo=at.tzinfo or UTC).timestamp() % (minutes * 60) == 0


def _view_source(q: DriftQuery, step: int) -> tuple[str, str, str]:
    """(table, time column, extra filter): the coarsest tier whose buckets each fall in one window.

    Merging t-digest states is what a view query costs, so fewer, coarser states are the speed-up;
    a bucket may be used only if the window, the step and the scope's edges all fall on its bounds.
    """
    for tier in ROLLUP_TIERS:
        if q.minutes % tier == 0 and step % tier == 0 and _aligned(q.scope.since, tier) and \
                _aligned(q.scope.until, tier):
            split = "tenant != '*'" if "tenant" in q.by else \
                "route != '*' AND tenant = '*'" if q.by else "route = '*' AND tenant = '*'"
            return ROLLUP_VIEW, "bucket", f"bucket_minutes = {tier} AND {split} AND "
    return (MINUTE_VIEW if q.by else CHALLENGER_MINUTE_VIEW), "minute", ""


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def drift(client: Client, q: DriftQuery) -> list[DriftRow]:
    # With FINAL, ClickHouse skips granules by the ts_request min/max index only when asked to, and
    # widens them across parts unless told that copies of a row never span partitions (they share
    # ts_request, the partition key).
    result = client.query(_sql(q), parameters={**q.scope.params(), "challenger": q.challenger},
                          settings={"use_skip_indexes_if_final": 1, "do_not_merge_across_partitions_select_final": 1})
    rows = []
    for r in result.named_results():
        n = r["sim_n"]
        mean = r["sim_sum"] / n if n else None
        var = (r["sim_sq"] - n * mean * mean) / (n - 1) if n > 1 else None
        sim_q = [nan_to_none(v) if n else None for v in r["sim_q"]]
        lat_q = [nan_to_none(v) if r["lat_n"] else None for v in r["lat_q"]]
        prod_q = [nan_to_none(v) for v in r["prod_lat_q"]]
        ch_q = [nan_to_none(v) if r["ok"] else None for v in r["ch_lat_q"]]
        increase = ch_q[1] / prod_q[1] - 1 if ch_q[1] is not None and prod_q[1] else None
        rows.append(DriftRow(
            challenger=r["challenger"], route=r.get("route", "*"), tenant=r.get("tenant", "*"),
            window_start=r["window_start"], window_end=r["window_start"] + timedelta(minutes=q.minutes),
            rows=r["rows"], ok=r["ok"], errors=r["errors"], error_rate=r["errors"] / r["rows"] if r["rows"] else 0.0,
            mean_similarity=mean, sd_similarity=None if var is None else max(var, 0.0) ** 0.5,
            p05_similarity=sim_q[0], p50_similarity=sim_q[1], p95_similarity=sim_q[2],
            mean_delta_s=None if mean is None else 1 - mean, p95_delta_s=None if sim_q[0] is None else 1 - sim_q[0],
            mean_latency_delta_ms=_ratio(r["lat_sum"], r["lat_n"]), p50_latency_delta_ms=lat_q[0],
            p95_latency_delta_ms=lat_q[1], p99_latency_delta_ms=lat_q[2], p95_production_latency_ms=prod_q[1],
            p95_challenger_latency_ms=ch_q[1], p95_latency_increase=increase,
            refusal_rate=_ratio(r["refusals"], r["refusal_n"]), flips=r["flips"],
            flip_rate=_ratio(r["flips"], r["refusal_n"]), exact_match_rate=_ratio(r["exact_matches"], r["ok"]),
            mean_judge_score=_ratio(r["judge_sum"], r["judge_n"]), production_cost_usd=float(r["prod_cost"]),
            challenger_cost_usd=float(r["ch_cost"]), cost_delta_usd=float(r["delta_cost"]),
            challenger_tokens=int(r["ch_tokens"]),
        ))
    return rows
