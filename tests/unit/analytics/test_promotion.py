from datetime import UTC, datetime, timedelta

from analytics.alerts import PageHinkley, hysteresis
from analytics.judgments import QualityEvidence
from analytics.promotion import ChallengerEvidence, cheapest_passing, decide
from analytics.stats import PairedComparison, WinRate
from schemas.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def evidence(**overrides) -> ChallengerEvidence:
    base = dict(challenger="c", rows=5000, ok=5000, mean_similarity=0.9, control_similarity=0.92, has_control=True,
                refusal_n=5000, refusals=10, production_cost_usd=10.0, challenger_cost_usd=4.0,
                p95_latency_delta_ms=-20.0, first_ts=T0, last_ts=T0 + timedelta(hours=30), paired_n=5000,
                paired_mean=0.0, paired_sd=0.2)
    return ChallengerEvidence(**{**base, **overrides})


def judged(win_rate: float, pairs: int = 400, **fields) -> QualityEvidence:
    """`pairs` judged pairs scoring 1 or 0 with the given share of wins."""
    wins = round(win_rate * pairs)
    return QualityEvidence(judge_version="pairwise-1:j", pairs=pairs, score_sum=wins, score_sq=wins, **fields)


JUDGE = Settings(judge_base_url="http://judge/v1")


def test_a_judged_better_cheaper_challenger_is_promoted_on_quality_with_a_canary_plan():
    v = decide(evidence(quality=judged(0.9), mean_similarity=0.4, paired_mean=-0.5), JUDGE)
    assert v.verdict == "promote" and v.quality_source == "judge" and v.quality.outcome == "better"
    assert "quality" in v.answered and v.equivalence.outcome == "different"  # different, and better
    assert v.confidence > 0.99 and [s.percent for s in v.canary_plan] == [1.0, 5.0, 25.0, 50.0, 100.0]
    assert v.summary()["win_rate"] == 0.9 and v.summary()["judged_pairs"] == 400


def test_better_but_dearer_is_held_for_manual_review_by_the_cost_gate_with_that_reason():
    v = decide(evidence(quality=judged(0.95), challenger_cost_usd=67.0), JUDGE)
    assert v.verdict == "manual_review" and v.quality.outcome == "better" and "cost" in v.explanation[0]


def test_judged_worse_is_rejected_even_when_within_noise():
    v = decide(evidence(quality=judged(0.26), paired_mean=0.01), JUDGE)
    assert v.equivalence.outcome == "within_noise"
    assert v.verdict == "reject" and "worse on quality" in v.explanation[0]


def test_without_a_quality_signal_different_is_manual_review_never_worse():
    v = decide(evidence(mean_similarity=0.37, paired_mean=-0.2), Settings())
    assert v.verdict == "manual_review" and v.equivalence.outcome == "different" and v.quality_source == "none"
    assert "no quality signal configured" in v.explanation[0]
    assert not any(g.passed is False for g in v.gates if g.question == "equivalence")


def test_without_a_quality_signal_within_noise_is_a_drop_in_replacement():
    v = decide(evidence(paired_mean=0.0), Settings())
    assert v.verdict == "promote" and v.answered.startswith("equivalence")


def test_undecided_quality_says_how_many_more_judged_pairs():
    v = decide(evidence(quality=judged(0.44, pairs=400)), JUDGE)
    assert v.verdict == "insufficient_data" and v.samples_needed and "more judged pairs" in v.explanation[0]


def test_hard_gates_reject():
    assert decide(evidence(refusals=200), Settings()).verdict == "reject"  # 4 % refusals
    assert decide(evidence(errors=300), Settings()).verdict == "reject"


def test_every_configured_gate_is_in_the_verdict_and_one_without_data_says_so():
    v = decide(evidence(p95_latency_delta_ms=None, production_cost_usd=0.0), Settings(judge_base_url="http://j/v1",
                                                                                       judge_mode="rubric"))
    names = {g.name: g for g in v.gates}
    assert set(names) == {"quality", "equivalence", "refusal_rate", "error_rate", "latency_p95_delta", "cost",
                          "judge_quality", "judge_faithfulness", "outcomes"}
    for name in ("quality", "latency_p95_delta", "cost", "judge_quality", "judge_faithfulness", "outcomes"):
        assert names[name].passed is None and names[name].detail.startswith("not evaluated: no data"), name
        assert any(line.startswith(name) and "not evaluated: no data" in line for line in v.explanation), name


def test_rubric_criteria_feed_their_own_questions():
    low_faith = QualityEvidence(judge_version="judge-1:j", rubric_n=300, rubric_quality=0.9, rubric_faithfulness=0.3)
    v = decide(evidence(quality=low_faith), Settings(judge_base_url="http://j/v1", judge_mode="rubric"))
    gates = {g.name: g for g in v.gates}
    assert gates["judge_faithfulness"].question == "equivalence" and gates["judge_faithfulness"].passed is None
    assert gates["judge_quality"].question == "quality" and gates["judge_quality"].passed is True
    assert v.verdict != "reject"  # disagreeing with production's facts is not being worse
    poor = QualityEvidence(judge_version="judge-1:j", rubric_n=300, rubric_quality=0.4, rubric_faithfulness=0.9)
    v = decide(evidence(quality=poor), Settings(judge_base_url="http://j/v1", judge_mode="rubric"))
    assert {g.name: g for g in v.gates}["judge_quality"].passed is False and v.verdict == "manual_review"


def test_outcomes_take_precedence_over_the_judge():
    outcome = PairedComparison(n=800, mean_diff=-0.2, sd_diff=0.5, t=-8.0, p_value=0.001, ci_low=-0.25,
                               ci_high=-0.15, resamples=10_000, sharpe=None, max_drawdown=None,
                               win_rate=WinRate(wins=200, losses=600, ties=0, rate=0.25, z=None, p_value=None))
    v = decide(evidence(quality=judged(0.9), outcome=outcome), JUDGE)
    assert v.quality_source == "outcomes" and v.verdict == "reject" and "outcomes" in v.explanation[0]


def test_a_slice_that_is_worse_holds_back_an_overall_winner():
    slices = [judged(0.95, 300, dimension="tenant", value="a"), judged(0.95, 300, dimension="tenant", value="b"),
              judged(0.1, 200, dimension="tenant", value="c")]
    v = decide(evidence(quality=judged(0.75, 800), quality_slices=slices), JUDGE)
    assert v.quality.outcome == "better"
    assert [s.value for s in v.slices if s.flagged] == ["c"]
    assert v.verdict == "manual_review" and "worse on tenant=c" in v.explanation[0]


def test_minimums_and_staleness_hold_back_a_verdict():
    short = decide(evidence(rows=400, ok=400, paired_n=400), Settings())
    assert short.verdict == "insufficient_data" and short.samples_needed >= 600
    night = decide(evidence(last_ts=T0 + timedelta(hours=10)), Settings())
    assert night.verdict == "insufficient_data" and "diurnal" in night.explanation[0]
    stale = decide(evidence(), Settings(), stale_reason="group is 5000 messages behind")
    assert stale.verdict == "stale"


def test_cheapest_passing_challenger_wins():
    s = Settings()
    a = decide(evidence(challenger="a", challenger_cost_usd=4.0), s)
    b = decide(evidence(challenger="b", challenger_cost_usd=2.0), s)
    c = decide(evidence(challenger="c", challenger_cost_usd=1.0, refusals=300), s)
    assert cheapest_passing([a, b, c]).challenger == "b"


def test_hysteresis_fires_once_and_clears_after_good_windows():
    bad = [False, True, False, True, True, True, False, True, False, False, False, True]
    states = hysteresis(bad, fire_after=2, clear_after=3)
    assert states.count("firing") == 1 and states.index("firing") == 4
    assert states.count("cleared") == 1 and states.index("cleared") == 10


def test_page_hinkley_detects_a_level_shift_not_noise():
    import numpy as np

    rng = np.random.default_rng(0)
    detector = PageHinkley(delta=0.01, threshold=0.15)
    quiet = [detector.update(x)[0] for x in rng.normal(0.2, 0.02, 200)]
    assert not any(quiet)
    shifted = [detector.update(x)[0] for x in rng.normal(0.35, 0.02, 20)]
    assert any(shifted[:5])


def test_a_classifier_shows_label_agreement_and_flips_next_to_the_controls():
    v = decide(evidence(label_n=1000, label_agree=930, label_flips=70, control_label_n=1000, control_label_agree=990,
                        control_label_flips=10), Settings())
    gate = {g.name: g for g in v.gates}["equivalence"]
    assert "labels agree with production on 93.0% of 1000 (control 99.0%), 70 flips (control 10)" in gate.detail
    assert v.summary()["label_agreement"] == 0.93 and v.summary()["control_label_agreement"] == 0.99


def test_a_configured_judge_without_verdicts_holds_the_decision_instead_of_falling_back_to_equivalence():
    v = decide(evidence(paired_mean=0.0), JUDGE)  # within noise, but the judge has said nothing yet
    assert v.verdict == "insufficient_data" and "no judged pairs" in v.answered
    assert {g.name: g for g in v.gates}["quality"].detail.startswith("not evaluated: no data")
    failing = QualityEvidence(judge_version="pairwise-1:j", not_judged=12,
                              not_judged_reasons={"judge answered HTTP 500": 12})
    v = decide(evidence(quality=failing), JUDGE)
    assert v.verdict == "insufficient_data" and "12× judge answered HTTP 500" in v.explanation[0]
