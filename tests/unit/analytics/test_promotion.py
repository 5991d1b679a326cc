from datetime import UTC, datetime, timedelta

from analytics.alerts import PageHinkley, hysteresis
from analytics.promotion import ChallengerEvidence, cheapest_passing, decide
from schemas.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def evidence(**overrides) -> ChallengerEvidence:
    base = dict(challenger="c", rows=5000, ok=5000, mean_similarity=0.9, control_similarity=0.92, has_control=True,
                refusal_n=5000, refusals=10, production_cost_usd=10.0, challenger_cost_usd=4.0,
                p95_latency_delta_ms=-20.0, first_ts=T0, last_ts=T0 + timedelta(hours=30), paired_n=5000,
                paired_mean=0.03, paired_sd=0.2)
    return ChallengerEvidence(**{**base, **overrides})


def test_good_challenger_is_promoted_with_a_canary_plan():
    v = decide(evidence(), Settings())
    assert v.verdict == "promote" and v.score >= 70 and v.confidence > 0.99
    assert [s.percent for s in v.canary_plan] == [1.0, 5.0, 25.0, 50.0, 100.0]
    assert v.explanation[0].startswith("promote")


def test_undecided_primary_metric_caps_the_score_below_promotion():
    v = decide(evidence(paired_mean=0.0), Settings())
    assert v.verdict == "manual_review" and v.score < 70 and v.samples_needed is None


def test_non_inferiority_margin_allows_an_equal_cheaper_challenger():
    v = decide(evidence(paired_mean=0.0), Settings(promotion_margin=0.02))
    assert v.verdict == "promote"


def test_hard_gates_reject():
    assert decide(evidence(refusals=200), Settings()).verdict == "reject"  # 4 % refusals
    assert decide(evidence(errors=300), Settings()).verdict == "reject"
    assert decide(evidence(paired_mean=-0.05), Settings()).verdict == "reject"


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
