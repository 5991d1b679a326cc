"""Judges calibrated against people: how often a judge version agrees with the reviewers' preferences.

On the pairs both rated (a judged pair of that version and at least one person's preference on the
same (event, challenger)), each side is put in one of three classes by the challenger's points:
above 0.5 'challenger', below 'production', 0.5 'tie' (a judge verdict that flipped with the order
scores 0.5: a tie). Several reviewers of one pair are averaged first. Then:

- accuracy: the share of pairs in the same class;
- Cohen's kappa, unweighted over the three classes: agreement beyond what the two sides' class
  frequencies give by chance (1 perfect, 0 chance, below 0 worse than chance);
- 95 % percentile bootstrap intervals of both (pairs resampled, a fixed seed: reproducible);
- the judge's flip rate over all its judged pairs (its own inconsistency, people or not).

A judge version whose kappa is below SHADOW_JUDGE_MIN_KAPPA once SHADOW_JUDGE_CALIBRATION_MIN_PAIRS
pairs are rated by both no longer counts as promotion evidence (analytics/promotion.py says so).
The pairs the review queue drew at random (queue_reason 'random') are counted apart: a kappa on them
alone is free of the queue's preference for hard pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from schemas.clickhouse import FEEDBACK_TABLE, JUDGMENTS_TABLE

__all__ = ["CLASSES", "JudgeCalibration", "preference_class", "cohen_kappa", "agreement", "calibrate",
           "gather_calibration"]

Preferred = Literal["challenger", "production", "tie"]
CLASSES: tuple[Preferred, ...] = ("challenger", "production", "tie")


def preference_class(points: float) -> Preferred:
    """The class of the challenger's points (1 win, 0.5 tie, 0 loss; means in between lean)."""
    return "challenger" if points > 0.5 else "production" if points < 0.5 else "tie"


def _codes(labels: Sequence[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(CLASSES)}
    return np.asarray([index[x] for x in labels], dtype=np.int64)


def _kappa_of(a: np.ndarray, b: np.ndarray) -> float | None:
    n = a.size
    if n == 0:
        return None
    observed = float(np.mean(a == b))
    expected = float(np.dot(np.bincount(a, minlength=3), np.bincount(b, minlength=3))) / (n * n)
    if expected >= 1.0:
        return None  # both sides used one and the same class only: kappa is undefined
    return (observed - expected) / (1.0 - expected)


def cohen_kappa(judge: Sequence[str], people: Sequence[str]) -> float | None:
    """Unweighted Cohen's kappa over CLASSES; None when undefined (no pairs, or one class on both sides)."""
    if len(judge) != len(people):
        raise ValueError("judge and people label the same pairs: the lists must be equally long")
    return _kappa_of(_codes(judge), _codes(people))


def agreement(judge: Sequence[str], people: Sequence[str], resamples: int = 2000, seed: int = 0
              ) -> tuple[float | None, tuple[float, float] | None, float | None, tuple[float, float] | None]:
    """(accuracy, its 95 % bootstrap interval, kappa, its interval); intervals None below 2 pairs."""
    a, b = _codes(judge), _codes(people)
    n = a.size
    if n == 0:
        return None, None, None, None
    accuracy, kappa = float(np.mean(a == b)), _kappa_of(a, b)
    if n < 2:
        return accuracy, None, kappa, None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n))
    accuracies = np.mean(a[picks] == b[picks], axis=1)
    kappas = np.array([k for k in (_kappa_of(a[p], b[p]) for p in picks) if k is not None])
    acc_interval = (float(np.percentile(accuracies, 2.5)), float(np.percentile(accuracies, 97.5)))
    kappa_interval = ((float(np.percentile(kappas, 2.5)), float(np.percentile(kappas, 97.5)))
                      if kappas.size else None)
    return accuracy, acc_interval, kappa, kappa_interval


class JudgeCalibration(BaseModel):
    """One judge version against people, and whether it still counts as promotion evidence."""

    judge_version: str
    judged_pairs: int  # every judged pair of this version (the flip rate's base)
    flip_rate: float | None
    pairs: int  # pairs rated by both the judge and people
    accuracy: float | None
    accuracy_interval: tuple[float, float] | None
    kappa: float | None
    kappa_interval: tuple[float, float] | None
    random_pairs: int  # of `pairs`, those the review queue drew at random
    random_kappa: float | None
    confusion: dict[str, dict[str, int]]  # judge class -> people class -> pairs
    min_kappa: float
    min_pairs: int
    counts: bool  # False: below the agreement floor, no longer promotion evidence
    status: str  # one line: why it counts or not

    def summary(self) -> dict[str, object]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)
        return {"judge_version": self.judge_version, "pairs": self.pairs, "accuracy": r(self.accuracy),
                "accuracy_interval": None if self.accuracy_interval is None else [r(x) for x in self.accuracy_interval],
                "kappa": r(self.kappa),
                "kappa_interval": None if self.kappa_interval is None else [r(x) for x in self.kappa_interval],
                "random_pairs": self.random_pairs, "random_kappa": r(self.random_kappa),
                "flip_rate": r(self.flip_rate), "judged_pairs": self.judged_pairs, "counts": self.counts,
                "status": self.status}


def calibrate(judge_version: str, rows: Sequence[tuple[float, float, bool]], judged_pairs: int, flips: int,
              min_kappa: float, min_pairs: int, resamples: int = 2000, seed: int = 0) -> JudgeCalibration:
    """`rows`: (judge's points, people's mean points, drawn at random by the queue) per pair both rated."""
    judge = [preference_class(j) for j, _p, _r in rows]
    people = [preference_class(p) for _j, p, _r in rows]
    accuracy, acc_interval, kappa, kappa_interval = agreement(judge, people, resamples, seed)
    random = [(j, p) for (j, p, r) in zip(judge, people, [r for *_x, r in rows]) if r]
    random_kappa = cohen_kappa([j for j, _ in random], [p for _, p in random]) if random else None
    confusion = {j: {p: 0 for p in CLASSES} for j in CLASSES}
    for j, p in zip(judge, people):
        confusion[j][p] += 1
    n = len(rows)
    if n < min_pairs:
        counts, status = True, f"not calibrated yet: {n} of {min_pairs} pairs rated by both; the judge counts meanwhile"
    elif kappa is None:
        counts, status = True, f"kappa undefined on {n} pairs (one class only on both sides); the judge counts"
    elif kappa < min_kappa:
        counts, status = False, (f"below the agreement floor: kappa {kappa:.3f} < {min_kappa:.2f} on {n} pairs; "
                                 "no longer counted as promotion evidence")
    else:
        counts, status = True, f"calibrated: kappa {kappa:.3f} ≥ {min_kappa:.2f} on {n} pairs"
    return JudgeCalibration(judge_version=judge_version, judged_pairs=judged_pairs,
                            flip_rate=flips / judged_pairs if judged_pairs else None, pairs=n, accuracy=accuracy,
                            accuracy_interval=acc_interval, kappa=kappa, kappa_interval=kappa_interval,
                            random_pairs=len(random), random_kappa=random_kappa, confusion=confusion,
                            min_kappa=min_kappa, min_pairs=min_pairs, counts=counts, status=status)


def gather_calibration(client: Client, app: str, min_kappa: float, min_pairs: int) -> dict[str, JudgeCalibration]:
    """judge version -> its calibration against people, for every pairwise judge version of `app`."""
    judged = "status = 'judged' AND score IS NOT NULL"
    totals = client.query(
        f"SELECT judge_version, countIf({judged}), countIf({judged} AND flipped) FROM {JUDGMENTS_TABLE} FINAL "
        "WHERE app = {app:String} AND startsWith(judge_version, 'pairwise') GROUP BY judge_version",
        parameters={"app": app}).result_rows
    if not totals:
        return {}
    pairs = client.query(f"""
        SELECT j.judge_version, j.score, p.value, p.random
        FROM (SELECT judge_version, challenger, event_id, score FROM {JUDGMENTS_TABLE} FINAL
              WHERE app = {{app:String}} AND {judged} AND startsWith(judge_version, 'pairwise')) AS j
        INNER JOIN (SELECT event_id, subject AS challenger, avg(value) AS value,
                           max(queue_reason = 'random') AS random
                    FROM {FEEDBACK_TABLE} FINAL WHERE kind = 'preference'
                    GROUP BY event_id, subject) AS p
            ON p.event_id = j.event_id AND p.challenger = j.challenger
        ORDER BY j.judge_version, j.challenger, j.event_id""", parameters={"app": app}).result_rows
    by_version: dict[str, list[tuple[float, float, bool]]] = {}
    for version, judge_score, people_score, random in pairs:
        by_version.setdefault(version, []).append((float(judge_score), float(people_score), bool(random)))
    return {version: calibrate(version, by_version.get(version, []), int(n), int(flips), min_kappa, min_pairs)
            for version, n, flips in totals}
