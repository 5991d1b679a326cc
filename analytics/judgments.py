"""The quality evidence: what the judge said of each challenger, overall and per route and tenant.

Reads shadow_judgments (one row per (app, judge version, challenger, event), FINAL), never the
similarity rows: a judge is versioned on its own. Judged pairs are a sample (SHADOW_JUDGE_SAMPLE_RATIO),
small next to the scores, so the exact sums are read directly, without a rollup.
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import Scope
from schemas.clickhouse import JUDGMENTS_TABLE

__all__ = ["QualityEvidence", "gather_quality", "latest_judge_version"]

_JUDGED = "status = 'judged' AND score IS NOT NULL"
_SUMS = f"""countIf({_JUDGED}) AS pairs,
    sumIf(ifNull(score, 0.), {_JUDGED}) AS score_sum,
    sumIf(pow(ifNull(score, 0.), 2), {_JUDGED}) AS score_sq,
    countIf({_JUDGED} AND flipped) AS flips,
    countIf(status = 'not_judged') AS not_judged,
    quantileExactIf(0.5)(length_ratio, {_JUDGED} AND length_ratio IS NOT NULL) AS length_ratio,
    countIf(status = 'judged' AND quality IS NOT NULL) AS rubric_n,
    avgIf(quality, status = 'judged' AND quality IS NOT NULL) AS rubric_quality,
    avgIf(faithfulness, status = 'judged' AND faithfulness IS NOT NULL) AS rubric_faithfulness,
    sum(cost_usd) AS cost_usd"""


class QualityEvidence(BaseModel):
    """One challenger's judged pairs (or one slice of them): the sums the win-rate test needs."""

    judge_version: str
    dimension: str = ""  # '' for the whole window, else 'route' or 'tenant'
    value: str = ""
    pairs: int = 0  # judged pairs in the win rate
    score_sum: float = 0.0
    score_sq: float = 0.0
    flips: int = 0  # pairs whose verdict followed the slot (counted as ties)
    not_judged: int = 0  # asked, but no verdict: no record, an empty answer, judge errors, budget
    not_judged_reasons: dict[str, int] = {}
    length_ratio: float | None = None  # median challenger/production answer length over judged pairs
    rubric_n: int = 0  # rubric judge (judge-1): quality and faithfulness in 0-1
    rubric_quality: float | None = None
    rubric_faithfulness: float | None = None
    cost_usd: float = 0.0

    @property
    def win_rate(self) -> float | None:
        return self.score_sum / self.pairs if self.pairs else None

    @property
    def flip_rate(self) -> float | None:
        return self.flips / self.pairs if self.pairs else None


def latest_judge_version(client: Client, app: str) -> str:
    result = client.query(f"SELECT argMax(judge_version, ts_judged) FROM {JUDGMENTS_TABLE} WHERE app = {{app:String}}",
                          parameters={"app": app})
    return str(result.result_rows[0][0]) if result.result_rows else ""


def _nan(value: object) -> float | None:
    return None if value is None or value != value else float(value)  # type: ignore[arg-type]


def gather_quality(client: Client, scope: Scope, judge_version: str = ""
                   ) -> tuple[dict[str, QualityEvidence], dict[str, list[QualityEvidence]]]:
    """(challenger → whole-window evidence, challenger → per-route and per-tenant slices) of one judge version."""
    judge_version = judge_version or latest_judge_version(client, scope.app)
    if not judge_version:
        return {}, {}
    scope_terms = Scope(app=scope.app, since=scope.since, until=scope.until).where()
    params = {**scope.params(), "judge_version": judge_version}
    sql = (f"SELECT challenger, dimension, value, {_SUMS} FROM {JUDGMENTS_TABLE} FINAL "
           "ARRAY JOIN [('', ''), ('route', route), ('tenant', tenant)] AS slice "
           f"WHERE {scope_terms} AND judge_version = {{judge_version:String}} "
           "GROUP BY challenger, slice.1 AS dimension, slice.2 AS value ORDER BY challenger, dimension, value")
    overall: dict[str, QualityEvidence] = {}
    slices: dict[str, list[QualityEvidence]] = {}
    for row in client.query(sql, parameters=params).named_results():
        evidence = QualityEvidence(
            judge_version=judge_version, dimension=row["dimension"], value=row["value"], pairs=row["pairs"],
            score_sum=float(row["score_sum"]), score_sq=float(row["score_sq"]), flips=row["flips"],
            not_judged=row["not_judged"], length_ratio=_nan(row["length_ratio"]), rubric_n=row["rubric_n"],
            rubric_quality=_nan(row["rubric_quality"]), rubric_faithfulness=_nan(row["rubric_faithfulness"]),
            cost_usd=float(row["cost_usd"]))
        if evidence.dimension:
            slices.setdefault(row["challenger"], []).append(evidence)
        else:
            overall[row["challenger"]] = evidence
    for challenger, found in slices.items():  # a dimension with one value is the whole window again
        counts = {d: sum(q.dimension == d for q in found) for d in ("route", "tenant")}
        slices[challenger] = [q for q in found if counts[q.dimension] > 1]
    if not any(q.not_judged for q in overall.values()):
        return overall, slices
    reasons = client.query(
        f"SELECT challenger, reason, count() FROM {JUDGMENTS_TABLE} FINAL WHERE {scope_terms} "
        "AND judge_version = {judge_version:String} AND status = 'not_judged' GROUP BY challenger, reason "
        "ORDER BY count() DESC LIMIT 5 BY challenger", parameters=params).result_rows
    for challenger, reason, count in reasons:
        if challenger in overall:
            overall[challenger].not_judged_reasons[reason[:120]] = count
    return overall, slices
