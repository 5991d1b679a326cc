"""Readiness of a challenger (teacher/student): enough pairs, similar enough, fast enough, no errors.

Exact path (shadow_scores FINAL): a duplicate must not make a student look ready.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import Scope, nan_to_none
from schemas.clickhouse import SCORES_TABLE
from schemas.settings import Settings

__all__ = ["Readiness", "readiness"]


class Readiness(BaseModel):
    challenger: str
    ready: bool
    pairs: int
    mean_similarity: float | None
    p95_latency_ms: float | None
    errors: int
    reasons: list[str]  # what is missing; empty when ready


def readiness(client: Client, settings: Settings, scope: Scope) -> list[Readiness]:
    s = settings
    result = client.query(
        f"SELECT challenger, countIf(status = 'ok' AND similarity IS NOT NULL) AS pairs, "
        "avgIf(similarity, status = 'ok' AND similarity IS NOT NULL) AS sim, "
        "quantileExactInclusiveIf(0.95)(ifNull(challenger_latency_ms, 0.), status = 'ok' AND challenger_latency_ms IS NOT NULL) AS p95, "
        "countIf(status IN ('error', 'timeout')) AS errors "
        f"FROM {SCORES_TABLE} FINAL WHERE {scope.where()} AND NOT is_control GROUP BY challenger ORDER BY challenger",
        parameters=scope.params())
    out = []
    for r in result.named_results():
        sim, p95 = nan_to_none(r["sim"]), nan_to_none(r["p95"]) if r["pairs"] else None
        reasons = []
        if r["pairs"] < s.readiness_min_pairs:
            reasons.append(f"{r['pairs']} of {s.readiness_min_pairs} pairs")
        if sim is None or sim < s.readiness_min_similarity:
            reasons.append(f"mean similarity {'—' if sim is None else f'{sim:.3f}'} < {s.readiness_min_similarity}")
        if p95 is None or p95 >= s.readiness_max_p95_latency_ms:
            reasons.append(f"p95 latency {'—' if p95 is None else f'{p95:.0f}'} ms ≥ {s.readiness_max_p95_latency_ms:.0f} ms")
        if r["errors"] > s.readiness_max_errors:
            reasons.append(f"{r['errors']} errors (max {s.readiness_max_errors})")
        out.append(Readiness(challenger=r["challenger"], ready=not reasons, pairs=r["pairs"], mean_similarity=sim,
                             p95_latency_ms=p95, errors=r["errors"], reasons=reasons))
    return out
