"""Judge calibration: kappa equals scikit-learn's on the same data; the floor stops a poor judge counting."""

from __future__ import annotations

import math
import random

import pytest
from sklearn.metrics import cohen_kappa_score

from analytics.calibration import CLASSES, agreement, calibrate, cohen_kappa, preference_class


def _labels(seed: int, n: int, agree: float) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    people = [rng.choice(CLASSES) for _ in range(n)]
    judge = [p if rng.random() < agree else rng.choice(CLASSES) for p in people]
    return judge, people


@pytest.mark.parametrize("seed,n,agree", [(1, 10, 0.9), (2, 57, 0.6), (3, 200, 0.3), (4, 500, 0.0), (5, 3, 0.5)])
def test_kappa_equals_scikit_learns_unweighted_cohen_kappa(seed: int, n: int, agree: float) -> None:
    judge, people = _labels(seed, n, agree)
    reference = cohen_kappa_score(judge, people, labels=list(CLASSES))
    assert cohen_kappa(judge, people) == pytest.approx(reference, abs=1e-12)


@pytest.mark.filterwarnings("ignore::UserWarning")  # scikit-learn warns that kappa is undefined: the point here
def test_kappa_of_perfect_chance_and_opposite_agreement() -> None:
    assert cohen_kappa(["challenger", "production", "tie"], ["challenger", "production", "tie"]) == 1.0
    assert cohen_kappa(["challenger", "production"], ["production", "challenger"]) == -1.0
    assert cohen_kappa(["tie", "tie"], ["tie", "tie"]) is None  # one class on both sides: undefined
    assert math.isnan(cohen_kappa_score(["tie", "tie"], ["tie", "tie"]))  # scikit-learn agrees: nan


def test_points_map_to_classes_as_the_judge_scores_them() -> None:
    assert [preference_class(x) for x in (1.0, 0.75, 0.5, 0.25, 0.0)] == [
        "challenger", "challenger", "tie", "production", "production"]


def test_bootstrap_intervals_hold_the_estimate_and_narrow_with_more_pairs() -> None:
    small = agreement(*_labels(7, 30, 0.7))
    large = agreement(*_labels(7, 600, 0.7))
    for accuracy, acc_interval, kappa, kappa_interval in (small, large):
        assert acc_interval[0] <= accuracy <= acc_interval[1]
        assert kappa_interval[0] <= kappa <= kappa_interval[1]
    assert large[3][1] - large[3][0] < small[3][1] - small[3][0]


def test_a_judge_below_the_floor_stops_counting_once_enough_pairs_are_rated() -> None:
    # The judge says the opposite of people on most pairs.
    rows = [(1.0, 0.0, i % 5 == 0) for i in range(15)] + [(0.5, 0.5, False)] * 5
    early = calibrate("pairwise-1:m", rows[:10], judged_pairs=100, flips=7, min_kappa=0.4, min_pairs=20)
    assert early.counts and "not calibrated yet" in early.status
    late = calibrate("pairwise-1:m", rows, judged_pairs=100, flips=7, min_kappa=0.4, min_pairs=20)
    assert not late.counts and "below the agreement floor" in late.status
    assert late.flip_rate == 0.07 and late.pairs == 20 and late.random_pairs == 3
    assert late.confusion["challenger"]["production"] == 15 and late.confusion["tie"]["tie"] == 5
    good = calibrate("pairwise-1:m", [(1.0, 1.0, False), (0.0, 0.0, True)] * 10 + [(0.5, 0.5, False)],
                     judged_pairs=21, flips=0, min_kappa=0.4, min_pairs=20)
    assert good.counts and good.kappa == 1.0 and good.accuracy == 1.0
