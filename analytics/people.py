"""People's pairwise ratings as quality evidence, and where they overrule the judge.

A preference (shadow_feedback kind 'preference') scores the challenger as the pairwise judge does:
1 preferred to production, 0.5 tie, 0 production preferred; several reviewers of one pair are
averaged. Only pairs of the decision's scope count (joined to shadow_scores by event and challenger).

Two sums per challenger, so the promotion engine can test either:
- people alone: the rated pairs;
- people over the judge: every judged pair of the judge version, with people's score in place of the
  judge's where people rated it, plus the rated pairs the judge did not judge. Precedence is per
  pair, so the set of pairs stays the judge's sample (and the reviewers' extra pairs).
"""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.judgments import QualityEvidence
from analytics.scope import Scope
from schemas.clickhouse import FEEDBACK_TABLE, JUDGMENTS_TABLE, SCORES_TABLE

__all__ = ["PeopleEvidence", "gather_people", "merge_with_judge"]


class PeopleEvidence(BaseModel):
    """One challenger's pairs rated by people, and the overlap with the judge's judged pairs."""

    rated_pairs: int = 0
    score_sum: float = 0.0
    score_sq: float = 0.0
    reviewers: int = 0
    # Pairs both rated: the judge's sums over them (replaced by people's in the merged test).
    both_pairs: int = 0
    both_judge_sum: float = 0.0
    both_judge_sq: float = 0.0

    @property
    def win_rate(self) -> float | None:
        return self.score_sum / self.rated_pairs if self.rated_pairs else None


def merge_with_judge(people: PeopleEvidence, judge: QualityEvidence) -> tuple[int, float, float]:
    """(pairs, sum, sum of squares): the judge's pairs with people's score where they rated, plus theirs."""
    return (judge.pairs - people.both_pairs + people.rated_pairs,
            judge.score_sum - people.both_judge_sum + people.score_sum,
            judge.score_sq - people.both_judge_sq + people.score_sq)


def gather_people(client: Client, scope: Scope, judge_version: str) -> dict[str, PeopleEvidence]:
    """challenger -> people's preferences in `scope`, and their overlap with `judge_version`'s judged pairs."""
    sql = f"""
        SELECT p.challenger AS challenger, count() AS rated_pairs, sum(p.value) AS score_sum,
               sum(p.value * p.value) AS score_sq, uniqExactArray(p.reviewers) AS reviewers,
               countIf(j.judged) AS both_pairs, sumIf(j.score, j.judged) AS both_judge_sum,
               sumIf(j.score * j.score, j.judged) AS both_judge_sq
        FROM (SELECT f.event_id AS event_id, f.subject AS challenger, avg(f.value) AS value,
                     groupUniqArray(f.reviewer) AS reviewers
              FROM {FEEDBACK_TABLE} AS f FINAL
              WHERE f.kind = 'preference'
                AND (f.event_id, f.subject) IN (SELECT event_id, challenger FROM {SCORES_TABLE} FINAL
                                                WHERE {scope.where()} AND status = 'ok' AND NOT is_control)
              GROUP BY f.event_id, f.subject) AS p
        LEFT JOIN (SELECT event_id, challenger, score, true AS judged FROM {JUDGMENTS_TABLE} FINAL
                   WHERE app = {{app:String}} AND judge_version = {{judge_version:String}}
                     AND status = 'judged' AND score IS NOT NULL) AS j
            ON j.event_id = p.event_id AND j.challenger = p.challenger
        GROUP BY p.challenger"""
    rows = client.query(sql, parameters={**scope.params(), "judge_version": judge_version},
                        settings={"join_use_nulls": 0}).named_results()
    return {r["challenger"]: PeopleEvidence(
        rated_pairs=int(r["rated_pairs"]), score_sum=float(r["score_sum"]), score_sq=float(r["score_sq"]),
        reviewers=int(r["reviewers"]), both_pairs=int(r["both_pairs"]), both_judge_sum=float(r["both_judge_sum"]),
        both_judge_sq=float(r["both_judge_sq"])) for r in rows}
