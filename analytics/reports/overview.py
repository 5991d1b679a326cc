"""One picture of an app: champion, challengers with their figures, health, promotion progress, lag.

The dashboard prints it, the API's /status returns it. Analytics never imports stream_agents, so the
caller passes the registered challengers (names, models, control flags) in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, Field

from analytics.champion import ChampionState
from analytics.lag import GroupLag
from analytics.scope import Scope, nan_to_none
from analytics.service import PromotionReport
from schemas.clickhouse import SCORES_TABLE
from schemas.settings import Settings

__all__ = ["HealthMark", "RecentHealth", "LagSummary", "Progress", "ChallengerRow", "Overview", "recent_health",
           "health_mark", "build_overview", "scope_totals", "RegisteredChallenger"]

HealthMark = Literal["healthy", "degraded", "down", "idle", "unknown"]


class RegisteredChallenger(BaseModel):
    name: str
    model: str = ""
    control: bool = False


class RecentHealth(BaseModel):
    """What the last minutes of scored rows say about a challenger (all workers together)."""

    challenger: str
    is_control: bool = False
    rows: int = 0
    ok: int = 0
    errors: int = 0  # error + timeout
    circuit_open: int = 0  # some worker's breaker was open
    skipped: int = 0  # rate limit or budget
    last_ts: datetime | None = None

    @property
    def error_rate(self) -> float:
        called = self.ok + self.errors
        return self.errors / called if called else 0.0


class LagSummary(BaseModel):
    group: str
    total_lag: int | None  # None: could not be read; over the pipeline's topics (analytics/staleness.py)
    max_lag_seconds: float | None = None
    stale: bool = False  # above promotion_max_lag_messages or _seconds: verdicts wait
    error: str | None = None


class Progress(BaseModel):
    """Promotion progress of a challenger: each part 0..1 of what the verdict needs."""

    samples: int
    min_samples: int
    hours: float
    diurnal_hours: float
    score: float
    review_at: float
    promote_at: float


class ChallengerRow(BaseModel):
    name: str
    model: str = ""
    control: bool = False
    registered: bool = False
    rows: int = 0
    mean_similarity: float | None = None
    noise_floor: float | None = None  # the control's mean similarity
    delta_s: float | None = None  # 1 − mean similarity
    p95_latency_delta_ms: float | None = None
    p95_challenger_latency_ms: float | None = None
    error_rate: float | None = None
    refusal_rate: float | None = None
    challenger_cost_usd: float | None = None
    cost_ratio: float | None = None
    verdict: str | None = None
    answered: str | None = None
    quality: str | None = None  # better / not_worse / worse / undecided, or None without a quality signal
    win_rate: float | None = None
    win_rate_low: float | None = None
    win_rate_high: float | None = None
    judged_pairs: int = 0
    length_ratio: float | None = None
    equivalence: str | None = None  # within_noise / different / undecided
    score: float | None = None
    confidence: float | None = None
    health: HealthMark = "unknown"
    recent: RecentHealth | None = None
    progress: Progress | None = None


class Overview(BaseModel):
    app: str
    generated_at: datetime
    scorer_version: str = ""
    champion: ChampionState
    production_model: str | None = None
    p95_production_latency_ms: float | None = None
    production_cost_usd: float | None = None
    recommended: str | None = None
    lag: LagSummary | None = None
    health_window_minutes: int
    challengers: list[ChallengerRow] = Field(default_factory=list)


_HEALTH_SQL = f"""
SELECT challenger, max(is_control) AS is_control, count() AS rows, countIf(status = 'ok') AS ok,
       countIf(status IN ('error', 'timeout')) AS errors, countIf(status = 'circuit_open') AS circuit_open,
       countIf(status IN ('skipped_rate_limited', 'skipped_budget')) AS skipped, max(ts_scored) AS last_ts
FROM {SCORES_TABLE}
WHERE ({{app:String}} = '' OR app = {{app:String}}) AND ts_scored >= {{since:DateTime64(3, 'UTC')}}
GROUP BY challenger ORDER BY challenger
"""


def recent_health(client: Client, app: str, minutes: int, now: datetime | None = None) -> list[RecentHealth]:
    # No FINAL: a duplicate row barely moves a rate, and this runs on every dashboard refresh.
    since = (now or datetime.now(UTC)) - timedelta(minutes=minutes)
    result = client.query(_HEALTH_SQL, parameters={"app": app, "since": since})
    return [RecentHealth(challenger=r["challenger"], is_control=bool(r["is_control"]), rows=r["rows"], ok=r["ok"],
                         errors=r["errors"], circuit_open=r["circuit_open"], skipped=r["skipped"],
                         last_ts=r["last_ts"]) for r in result.named_results()]


_TOTALS_SQL = f"""
SELECT challenger, max(is_control) AS is_control, count() AS rows, countIf(status = 'ok') AS ok,
       countIf(status IN ('error', 'timeout')) AS errors, countIf(status = 'circuit_open') AS circuit_open,
       countIf(status IN ('skipped_rate_limited', 'skipped_budget')) AS skipped, max(ts_scored) AS last_ts,
       avgIf(similarity, status = 'ok' AND similarity IS NOT NULL) AS mean_similarity
FROM {SCORES_TABLE} FINAL
WHERE {{where}}
GROUP BY challenger ORDER BY challenger
"""


def scope_totals(client: Client, scope: Scope) -> list[tuple[RecentHealth, float | None]]:
    """Every challenger of the decision scope, controls included (evidence leaves them out)."""
    result = client.query(_TOTALS_SQL.replace("{where}", scope.where()), parameters=scope.params())
    return [(RecentHealth(challenger=r["challenger"], is_control=bool(r["is_control"]), rows=r["rows"], ok=r["ok"],
                          errors=r["errors"], circuit_open=r["circuit_open"], skipped=r["skipped"],
                          last_ts=r["last_ts"]), nan_to_none(r["mean_similarity"])) for r in result.named_results()]


def health_mark(recent: RecentHealth | None, max_error_rate: float) -> HealthMark:
    """down: every call failed or the breaker was open; degraded: errors above the gate; idle: no rows."""
    if recent is None or recent.rows == 0:
        return "idle"
    if recent.ok == 0 and (recent.errors or recent.circuit_open):
        return "down"
    if recent.circuit_open or recent.error_rate > max_error_rate:
        return "degraded"
    return "healthy"


def build_overview(settings: Settings, app: str, report: PromotionReport, champion: ChampionState,
                   registered: list[RegisteredChallenger], health: list[RecentHealth], lag: LagSummary | None,
                   health_window_minutes: int, production_model: str | None = None,
                   totals: list[tuple[RecentHealth, float | None]] | None = None) -> Overview:
    """Pure: joins verdicts, the registry and recent health into rows (registry order, then the rest)."""
    s = settings
    by_verdict = {v.challenger: v for v in report.verdicts}
    by_health = {h.challenger: h for h in health}
    names = [r.name for r in registered]
    by_total = {t.challenger: (t, sim) for t, sim in totals or []}
    names += sorted((set(by_verdict) | set(by_health) | set(by_total)) - set(names))
    reg = {r.name: r for r in registered}
    rows = []
    floor = None
    for v in report.verdicts:
        floor = v.evidence.control_similarity if v.evidence.control_similarity is not None else floor
    for name in names:
        v, h, r = by_verdict.get(name), by_health.get(name), reg.get(name)
        total, total_sim = by_total.get(name, (None, None))
        row = ChallengerRow(name=name, model=(r.model if r else "") or (v.evidence.challenger_model if v else ""),
                            control=bool((r and r.control) or (h and h.is_control) or (total and total.is_control)),
                            registered=r is not None,
                            recent=h, health=health_mark(h, s.promotion_max_error_rate), noise_floor=floor)
        if v is not None:
            e = v.evidence
            row = row.model_copy(update=dict(
                rows=e.rows, mean_similarity=e.mean_similarity,
                delta_s=None if e.mean_similarity is None else 1 - e.mean_similarity,
                p95_latency_delta_ms=e.p95_latency_delta_ms, p95_challenger_latency_ms=e.p95_challenger_latency_ms,
                error_rate=e.error_rate, refusal_rate=e.refusal_rate if e.refusal_n else None,
                challenger_cost_usd=e.challenger_cost_usd, cost_ratio=e.cost_ratio, verdict=v.verdict,
                answered=v.answered, quality=v.quality.outcome if v.quality else None,
                win_rate=v.quality.win_rate if v.quality else None, win_rate_low=v.quality.low if v.quality else None,
                win_rate_high=v.quality.high if v.quality else None,
                judged_pairs=e.quality.pairs if e.quality else 0,
                length_ratio=e.quality.length_ratio if e.quality else None, equivalence=v.equivalence.outcome,
                score=v.score, confidence=v.confidence,
                progress=Progress(samples=e.rows, min_samples=s.promotion_min_samples, hours=round(e.span_hours, 3),
                                  diurnal_hours=s.promotion_diurnal_hours, score=v.score,
                                  review_at=s.promotion_score_review, promote_at=s.promotion_score_promote)))
        elif total is not None:  # a control (no verdict) or a challenger outside the scorer version
            row = row.model_copy(update=dict(rows=total.rows, error_rate=total.error_rate, mean_similarity=total_sim,
                                             delta_s=None if total_sim is None else 1 - total_sim,
                                             verdict="control" if row.control else None))
        elif row.control:
            row = row.model_copy(update=dict(verdict="control"))
        rows.append(row)
    first = report.verdicts[0].evidence if report.verdicts else None
    return Overview(
        app=app, generated_at=datetime.now(UTC), scorer_version=report.scorer_version, champion=champion,
        production_model=production_model,
        p95_production_latency_ms=nan_to_none(first.p95_production_latency_ms) if first else None,
        production_cost_usd=first.production_cost_usd if first else None, recommended=report.recommended,
        lag=lag, health_window_minutes=health_window_minutes, challengers=rows)


def production_model(client: Client, app: str) -> str | None:
    result = client.query(f"SELECT argMax(production_model, ts_request) FROM {SCORES_TABLE} "
                          "WHERE ({app:String} = '' OR app = {app:String})", parameters={"app": app})
    value = result.result_rows[0][0] if result.result_rows else ""
    return value or None


__all__ += ["production_model"]


def summarize_lag(settings: Settings, lag: GroupLag | None, error: str | None = None) -> LagSummary:
    """The dashboard's lag line from a LagMonitor reading (analytics/lag.py), or the reason there is none."""
    from analytics.staleness import lag_status, stale_reason

    if lag is None:
        return LagSummary(group=settings.consumer_group, total_lag=None, error=error)
    status = lag_status(settings, lag)  # the figures the verdicts wait on, one code path
    return LagSummary(group=lag.group, total_lag=status.lag_messages, max_lag_seconds=status.lag_seconds,
                      stale=stale_reason(status, settings) is not None)


__all__ += ["summarize_lag"]


def gather_overview(client: Client, settings: Settings, app: str, champion: ChampionState,
                    registered: list[RegisteredChallenger], lag: LagSummary | None,
                    health_window_minutes: int = 15) -> Overview:
    """Verdicts (stale when `lag` says so or could not be read), health, and the champion, for one app."""
    from analytics.service import verdicts
    from analytics.staleness import LagStatus, pipeline_topics

    lag_check = None
    if lag is not None:
        status = LagStatus(group=lag.group, topics=pipeline_topics(settings), lag_messages=lag.total_lag,
                           lag_seconds=lag.max_lag_seconds, error=lag.error)
        lag_check = lambda _settings: status  # noqa: E731 - one reading serves the verdicts and the display
    from analytics.service import decision_scope

    scope = decision_scope(client, settings, app)
    report = verdicts(client, settings, app, scope.scorer_version, lag_check=lag_check)
    health = recent_health(client, app, health_window_minutes)
    return build_overview(settings, app, report, champion, registered, health, lag, health_window_minutes,
                          production_model(client, app), scope_totals(client, scope))


__all__ += ["gather_overview"]
