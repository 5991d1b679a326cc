"""Backfill planning: offsets syntax, job identity, replay-stage settings (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stream_agents.backfill import BackfillPlan, OffsetRange, _stage_settings, parse_offsets
from schemas.errors import InvalidRequestError
from schemas.settings import ChallengerConfig, Settings
from shadow_optic.cli import main


def test_offsets_are_parsed_per_partition_end_exclusive():
    assert parse_offsets("1:5-10, 0:0-3") == [OffsetRange(partition=0, start=0, end=3),
                                              OffsetRange(partition=1, start=5, end=10)]


@pytest.mark.parametrize("spec", ["", "0:5", "0:10-5", "a:1-2", "0:1-2,0:3-4"])
def test_bad_offsets_are_refused_with_the_expected_form(spec):
    with pytest.raises(InvalidRequestError):
        parse_offsets(spec)


def test_the_job_id_is_stable_and_depends_on_what_is_replayed_only():
    t0, t1 = datetime(2026, 11, 22, 10, tzinfo=UTC), datetime(2026, 11, 22, 11, tzinfo=UTC)
    plan = BackfillPlan(challenger="new", ts_from=t0, ts_to=t1)
    assert plan.job_id("shadow.requests") == BackfillPlan(challenger="new", ts_from=t0, ts_to=t1,
                                                          budget_usd=5).job_id("shadow.requests")
    others = [BackfillPlan(challenger="other", ts_from=t0, ts_to=t1),
              BackfillPlan(challenger="new", ts_from=t0, ts_to=t1, pinned_to="old"),
              BackfillPlan(challenger="new", ts_from=t0, ts_to=t1, clusters=10)]
    assert len({p.job_id("shadow.requests") for p in [plan, *others]}) == 4
    assert plan.job_id("a.shadow.requests") != plan.job_id("shadow.requests")


def test_the_stage_replays_one_challenger_always_allocated_waiting_and_paced():
    settings = Settings(backfill_qps=7.0, backfill_concurrency=3, replay_allocation="thompson",
                        replay_lag_budget_s=5.0)
    worker, models, challenger = _stage_settings(settings, ChallengerConfig(name="new", base_url="http://x/v1",
                                                                            model="m"))
    assert [c.name for c in models.challengers] == ["new"]
    assert (worker.replay_allocation, worker.replay_lag_budget_s, worker.replay_concurrency) == ("all", 0.0, 3)
    assert challenger.rate_limit_rps == 7.0
    own = ChallengerConfig(name="new", base_url="http://x/v1", model="m", rate_limit_rps=2.0)
    assert _stage_settings(settings, own)[2].rate_limit_rps == 2.0  # its own shared limit wins


def test_the_cli_refuses_a_half_time_range(capsys):
    assert main(["replay", "--challenger", "new", "--from", "2026-11-22T10:00:00Z"]) == 2
    assert "--from and --to go together" in capsys.readouterr().err
