"""The exact path: challenger evidence read from shadow_scores FINAL (each (event, challenger) once).

Gates, readiness and the statistical tests use this path, never the at-least-once minute view.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client

from analytics.outcomes import outcome_comparison
from analytics.promotion import ChallengerEvidence
from analytics.scope import Scope, nan_to_none
from schemas.clickhouse import SCORES_TABLE

__all__ = ["gather_evidence"]

_SUMMARY_SQL = f"""
SELECT
    challenger,
    any(challenger_model) AS challenger_model,
    max(is_control) AS is_control,
    count() AS rows,
    countIf(status = 'ok') AS ok,
    countIf(status IN ('error', 'timeout')) AS errors,
    avgIf(similarity, status = 'ok' AND similarity IS NOT NULL) AS mean_similarity,
    countIf(refusal_challenger IS NOT NULL) AS refusal_n,
    countIf(ifNull(refusal_challenger, false)) AS refusals,
    countIf(ifNull(refusal_production != refusal_challenger, false)) AS flips,
    quantileExactInclusiveIf(0.95)(ifNull(latency_delta_ms, 0.), status = 'ok' AND latency_delta_ms IS NOT NULL)
        AS p95_latency_delta_ms,
    quantileExactInclusiveIf(0.95)(ifNull(challenger_latency_ms, 0.), status = 'ok' AND challenger_latency_ms IS NOT NULL)
        AS p95_challenger_latency_ms,
    quantileExactInclusive(0.95)(production_latency_ms) AS p95_production_latency_ms,
    sum(production_cost_usd) AS production_cost_usd,
    sum(challenger_cost_usd) AS challenger_cost_usd,
    countIf(judge_score IS NOT NULL) AS judge_n,
    avgIf(judge_score, judge_score IS NOT NULL) AS judge_quality,
    avgIf(similarity_components['faithfulness'], mapContains(similarity_components, 'faithfulness'))
        AS judge_faithfulness,
    min(ts_request) AS first_ts,
    max(ts_request) AS last_ts
FROM {SCORES_TABLE} FINAL
WHERE {{where}}
GROUP BY challenger
ORDER BY challenger
"""

# d = similarity(challenger) − similarity(control) on the same event: pairing removes the per-prompt
# difficulty both share, so the primary test needs far fewer samples than comparing two means.
_PAIRED_SQL = f"""
SELECT c.challenger, count() AS n, avg(c.s - k.s) AS mean, stddevSamp(c.s - k.s) AS sd
FROM (SELECT challenger, event_id, assumeNotNull(similarity) AS s FROM {SCORES_TABLE} FINAL
      WHERE {{where}} AND NOT is_control AND status = 'ok' AND similarity IS NOT NULL) AS c
INNER JOIN (SELECT event_id, avg(assumeNotNull(similarity)) AS s FROM {SCORES_TABLE} FINAL
            WHERE {{where}} AND is_control AND status = 'ok' AND similarity IS NOT NULL GROUP BY event_id) AS k
USING event_id
GROUP BY c.challenger
"""

_UNPAIRED_SQL = f"""
SELECT challenger, count() AS n, avg(assumeNotNull(similarity)) - {{reference:Float64}} AS mean,
       stddevSamp(assumeNotNull(similarity)) AS sd
FROM {SCORES_TABLE} FINAL
WHERE {{where}} AND NOT is_control AND status = 'ok' AND similarity IS NOT NULL
GROUP BY challenger
"""


def gather_evidence(client: Client, scope: Scope, reference_similarity: float,
                    with_outcomes: bool = True) -> list[ChallengerEvidence]:
    """Evidence for every non-control challenger in `scope` (give it one scorer version)."""
    where, params = scope.where(), scope.params()
    rows = list(client.query(_SUMMARY_SQL.replace("{where}", where), parameters=params).named_results())
    control = [r for r in rows if r["is_control"]]
    control_similarity = None
    if control:
        total = sum(r["ok"] for r in control)
        control_similarity = nan_to_none(
            sum((nan_to_none(r["mean_similarity"]) or 0) * r["ok"] for r in control) / total) if total else None
    if control_similarity is not None:
        paired = client.query(_PAIRED_SQL.replace("{where}", where), parameters=params).named_results()
    else:
        paired = client.query(_UNPAIRED_SQL.replace("{where}", where),
                              parameters={**params, "reference": reference_similarity}).named_results()
    paired_by = {p["challenger"]: p for p in paired}
    evidence = []
    for r in rows:
        if r["is_control"]:
            continue
        p = paired_by.get(r["challenger"], {})
        evidence.append(ChallengerEvidence(
            challenger=r["challenger"], challenger_model=r["challenger_model"], scorer_version=scope.scorer_version,
            rows=r["rows"], ok=r["ok"], errors=r["errors"], mean_similarity=nan_to_none(r["mean_similarity"]),
            control_similarity=control_similarity, has_control=control_similarity is not None,
            refusal_n=r["refusal_n"], refusals=r["refusals"], flips=r["flips"],
            p95_latency_delta_ms=nan_to_none(r["p95_latency_delta_ms"]),
            p95_challenger_latency_ms=nan_to_none(r["p95_challenger_latency_ms"]),
            p95_production_latency_ms=nan_to_none(r["p95_production_latency_ms"]),
            production_cost_usd=float(r["production_cost_usd"]), challenger_cost_usd=float(r["challenger_cost_usd"]),
            judge_n=r["judge_n"], judge_quality=nan_to_none(r["judge_quality"]),
            judge_faithfulness=nan_to_none(r["judge_faithfulness"]), first_ts=r["first_ts"], last_ts=r["last_ts"],
            paired_n=int(p.get("n", 0)), paired_mean=nan_to_none(p.get("mean")), paired_sd=nan_to_none(p.get("sd")),
            reference="control" if control_similarity is not None else f"fixed {reference_similarity:.2f}",
            outcome=outcome_comparison(client, scope, r["challenger"]) if with_outcomes else None,
        ))
    return evidence
