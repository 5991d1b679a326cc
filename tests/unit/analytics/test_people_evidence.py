"""People's pairwise ratings in the promotion engine: precedence over the judge, and the agreement floor."""

from __future__ import annotations

from analytics.calibration import calibrate
from analytics.people import PeopleEvidence, merge_with_judge
from analytics.promotion import decide
from schemas.settings import Settings
from tests.unit.analytics.test_promotion import JUDGE, evidence, judged


def _people(rated: int, wins: int, both: int = 0, both_judge_wins: int = 0) -> PeopleEvidence:
    return PeopleEvidence(rated_pairs=rated, score_sum=wins, score_sq=wins, reviewers=2, both_pairs=both,
                          both_judge_sum=both_judge_wins, both_judge_sq=both_judge_wins)


def test_people_overrule_the_judge_on_the_pairs_they_rated():
    judge = judged(0.9, pairs=400)  # 360 wins
    people = _people(rated=100, wins=10, both=100, both_judge_wins=90)  # people: 10 of the same 100 pairs
    assert merge_with_judge(people, judge) == (400, 360 - 90 + 10, 360 - 90 + 10)
    v = decide(evidence(quality=judge, people=people), JUDGE)
    assert v.quality_source == "people+judge" and v.quality.pairs == 400
    assert v.quality.win_rate == (360 - 90 + 10) / 400
    assert "people's pairwise ratings where they rated, else the pairwise judge" in v.answered
    assert "100 rated by 2 reviewer(s), 100 of them overruling the judge, 300 from the judge" in v.gates[0].detail
    assert v.summary()["quality_source"] == "people+judge" and v.summary()["people_pairs"] == 100


def test_people_alone_answer_when_there_is_no_judge():
    v = decide(evidence(people=_people(rated=300, wins=285)), Settings())
    assert v.quality_source == "people" and v.verdict == "promote" and v.quality.outcome == "better"
    assert v.summary()["primary_metric"] == "people's preference rate"


def test_people_who_find_it_worse_reject_it_although_the_judge_liked_it():
    v = decide(evidence(quality=judged(0.9, pairs=400), people=_people(rated=400, wins=40, both=400,
                                                                        both_judge_wins=360)), JUDGE)
    assert v.verdict == "reject" and v.quality.outcome == "worse" and v.quality_source == "people+judge"


def _disagreeing(n: int):
    return calibrate("pairwise-1:j", [(1.0, 0.0, False)] * n + [(0.0, 0.0, False)] * 2, judged_pairs=400, flips=12,
                     min_kappa=0.4, min_pairs=20)


def test_a_judge_below_the_agreement_floor_no_longer_counts_and_the_verdict_says_so():
    calibration = _disagreeing(30)
    assert not calibration.counts
    v = decide(evidence(quality=judged(0.9), calibration=calibration), JUDGE)
    assert v.verdict == "insufficient_data" and v.quality is None
    assert "judge does not count" in v.answered
    assert any("below the agreement floor" in line for line in v.explanation)
    # The people who rated still answer; the judge's other pairs are left out.
    v = decide(evidence(quality=judged(0.9), calibration=calibration, people=_people(rated=300, wins=285, both=32,
                                                                                   both_judge_wins=30)), JUDGE)
    assert v.quality_source == "people" and v.quality.pairs == 300 and v.verdict == "promote"
    assert v.summary()["judge_agreement"]["counts"] is False


def test_a_calibrated_judge_counts_and_its_agreement_is_in_the_summary():
    calibration = calibrate("pairwise-1:j", [(1.0, 1.0, True), (0.0, 0.0, False)] * 15, judged_pairs=400, flips=8,
                            min_kappa=0.4, min_pairs=20)
    v = decide(evidence(quality=judged(0.9), calibration=calibration), JUDGE)
    assert v.quality_source == "judge" and v.verdict == "promote"
    agreement = v.summary()["judge_agreement"]
    assert agreement["kappa"] == 1.0 and agreement["pairs"] == 30 and agreement["flip_rate"] == 0.02
    assert any("calibrated: kappa 1.000" in line for line in v.explanation)
