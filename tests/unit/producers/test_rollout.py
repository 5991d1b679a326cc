"""The gateway's rollout decision: the share holds, keys stay put, and events say who served them."""

from __future__ import annotations

from datetime import UTC, datetime

from producers.rollout import RolloutChoice, arm_of, is_error_status, serving_of
from schemas.rollout import RolloutPlan


def _plan(steps: list[float], index: int = 0, state: str = "running") -> RolloutPlan:
    now = datetime.now(UTC)
    return RolloutPlan(rollout_id="r1", app="a", candidate="cand", champion="production", steps=steps, hold_s=1,
                       step_index=index, state=state, started_at=now, step_started_at=now, updated_at=now)


def test_the_candidate_share_is_the_steps_share_within_half_a_point():
    for share in (0.01, 0.05, 0.25, 0.5):
        served = sum(arm_of("r1", f"user-{i}", share) == "candidate" for i in range(100_000))
        assert abs(served / 100_000 - share) < 0.005, (share, served)


def test_a_key_on_the_candidate_stays_there_as_the_share_grows():
    on_candidate = {i for i in range(20_000) if arm_of("r1", f"k{i}", 0.05) == "candidate"}
    later = {i for i in range(20_000) if arm_of("r1", f"k{i}", 0.25) == "candidate"}
    assert on_candidate and on_candidate <= later


def test_no_share_and_a_full_share_are_absolute():
    assert all(arm_of("r1", f"k{i}", 0.0) == "champion" for i in range(1000))
    assert all(arm_of("r1", f"k{i}", 1.0) == "candidate" for i in range(1000))


def test_another_rollout_draws_other_keys():
    first = {i for i in range(5000) if arm_of("r1", f"k{i}", 0.1) == "candidate"}
    second = {i for i in range(5000) if arm_of("r2", f"k{i}", 0.1) == "candidate"}
    assert first != second


def test_only_a_running_plan_has_a_share():
    assert _plan([5, 50, 100], 1).share() == 0.5
    assert _plan([5, 50, 100], 1, "rolled_back").share() == 0.0


def test_events_name_the_server_the_step_and_the_champion_to_compare_with():
    plan = _plan([5, 50, 100], 1)
    candidate = serving_of(RolloutChoice(plan=plan, arm="candidate", route=None), "production")
    assert (candidate.served_by, candidate.rollout_step, candidate.rollout_share, candidate.compare_with) == \
        ("cand", 1, 0.5, "production")
    champion = serving_of(RolloutChoice(plan=plan, arm="champion", route=None), "production")
    assert champion.served_by == "production" and champion.compare_with is None
    assert serving_of(None, "production").rollout_id is None


def test_errors_are_server_errors_and_rate_limits():
    assert is_error_status(500) and is_error_status(502) and is_error_status(429)
    assert not is_error_status(200) and not is_error_status(400)
