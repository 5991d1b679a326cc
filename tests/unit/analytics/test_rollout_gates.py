"""A rollout step's gates: roll back on a failing one, hold without figures, advance after the hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.rollout import ServedFigures, parse_duration, parse_steps
from analytics.rollout_gates import RefusalFigures, evaluate_step
from schemas.errors import InvalidRequestError
from schemas.rollout import LATENCY_BUCKETS_MS, RolloutPlan, latency_bucket
from schemas.settings import Settings

SETTINGS = Settings(rollout_min_requests=20)


def _plan(index: int = 0, held_s: float = 100.0, steps: list[float] | None = None) -> RolloutPlan:
    now = datetime.now(UTC)
    return RolloutPlan(rollout_id="r", app="a", candidate="cand", champion="production", steps=steps or [5, 50, 100],
                       hold_s=60, step_index=index, started_at=now, step_started_at=now - timedelta(seconds=held_s),
                       updated_at=now)


def _figures(requests: int, errors: int = 0, latency_ms: float = 40) -> ServedFigures:
    buckets = [0] * len(LATENCY_BUCKETS_MS)
    buckets[latency_bucket(latency_ms)] = requests
    return ServedFigures(requests, errors, buckets)


def _decide(plan, cand, champ, window=None, refusals=None, alerts=()):
    return evaluate_step(plan, (cand, champ), window or (cand, champ), refusals, list(alerts), SETTINGS,
                         datetime.now(UTC))


def test_a_step_whose_gates_held_for_the_hold_time_advances():
    decision = _decide(_plan(), _figures(100), _figures(1000))
    assert decision.action == "advance", decision.reason


def test_the_last_step_completes():
    assert _decide(_plan(2), _figures(100), _figures(1000)).action == "complete"


def test_before_the_hold_time_it_holds():
    decision = _decide(_plan(held_s=10), _figures(100), _figures(1000))
    assert decision.action == "hold" and "held 10s of 60s" in decision.reason


def test_without_enough_requests_it_holds_and_says_what_it_waits_for():
    decision = _decide(_plan(), _figures(5), _figures(1000))
    assert decision.action == "hold" and "need 20" in decision.reason


def test_errors_in_the_recent_window_roll_back_even_when_the_step_as_a_whole_looks_fine():
    step = (_figures(1000, errors=15), _figures(5000, errors=10))
    window = (_figures(40, errors=15), _figures(200, errors=2))
    decision = evaluate_step(_plan(held_s=30), step, window, None, [], SETTINGS, datetime.now(UTC))
    assert decision.action == "rollback"
    failed = [g for g in decision.gates if g.status == "fail"]
    assert [(g.name, g.scope) for g in failed] == [("error_rate", "window")]
    assert failed[0].candidate == pytest.approx(15 / 40) and failed[0].threshold == SETTINGS.rollout_max_error_rate_increase


def test_a_slower_candidate_rolls_back_on_p95():
    decision = _decide(_plan(), _figures(100, latency_ms=900), _figures(1000, latency_ms=40))
    assert decision.action == "rollback" and "p95" in decision.reason


def test_refusals_and_drift_alerts_fail_a_step():
    refusals = RefusalFigures(candidate_answers=100, candidate_refusals=10, champion_answers=100,
                              champion_refusals=0)
    assert _decide(_plan(), _figures(100), _figures(1000), refusals=refusals).action == "rollback"
    decision = _decide(_plan(), _figures(100), _figures(1000), alerts=["cand: delta_s (…)"])
    assert decision.action == "rollback" and "drift_alerts" in decision.reason


def test_steps_and_hold_times_are_parsed_with_clear_errors():
    assert parse_steps("1,5,25,50,100") == [1, 5, 25, 50, 100]
    assert parse_duration("60s") == 60 and parse_duration("5m") == 300 and parse_duration("2h") == 7200
    with pytest.raises(InvalidRequestError, match="percents"):
        parse_steps("1,x")
    with pytest.raises(InvalidRequestError, match="duration"):
        parse_duration("soon")
    with pytest.raises(ValueError, match="increase"):
        _plan(steps=[50, 5])


def test_p95_is_read_from_the_histogram():
    figures = ServedFigures(100, 0, [0] * len(LATENCY_BUCKETS_MS))
    figures.buckets[latency_bucket(40)] = 90
    figures.buckets[latency_bucket(450)] = 10
    assert figures.p95_ms() == 500


def test_one_stray_error_does_not_roll_back_but_a_real_jump_does():
    champion = _figures(200)
    assert _decide(_plan(held_s=10), _figures(40, errors=1), champion).action == "hold"
    assert _decide(_plan(held_s=10), _figures(40, errors=4), champion).action == "rollback"
