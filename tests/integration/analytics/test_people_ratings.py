"""People's ratings as evidence on the real stack: shadow.feedback -> the worker -> ClickHouse -> verdicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from analytics.outcomes import publish_feedback
from analytics.service import verdicts
from schemas.events import OutcomeFeedback
from shadow_optic.stack.processes import wait_until
from tests.integration.analytics.synthetic import insert, insert_judgments, make_records, with_judgments

pytestmark = pytest.mark.integration
N = 1200


def _preference(event_id: str, challenger: str, value: float, reviewer: str, reason: str = "random") -> OutcomeFeedback:
    return OutcomeFeedback(event_id=event_id, subject=challenger, kind="preference", value=value, source="review",
                           ts=datetime.now(UTC), reviewer=reviewer, shown_first="production", queue_reason=reason,
                           rating_production=4, rating_challenger=2, note="the shorter one misses the point")


def test_ratings_through_shadow_feedback_overrule_the_judge_and_calibrate_it(pipeline_settings, processes, clickhouse):
    run = uuid.uuid4().hex[:8]
    settings = pipeline_settings.model_copy(update={"app_name": f"people-{run}", "judge_min_kappa": 0.4,
                                                    "judge_calibration_min_pairs": 20})
    app = settings.app_name
    insert(clickhouse, make_records(app, "control", N, seed=2, control=True))
    records = with_judgments(make_records(app, "cheap", N, seed=3), 0.8, seed=3)  # the judge likes it
    insert(clickhouse, records)
    insert_judgments(clickhouse, records)
    before = {v.challenger: v for v in verdicts(clickhouse, settings, app).verdicts}["cheap"]
    assert before.quality_source == "judge" and before.quality.outcome == "better"

    # Two reviewers find production better on 60 pairs the judge gave to the challenger: the judge
    # disagrees with people beyond the floor, so it stops counting, and people's verdict answers.
    judged_wins = [r.event_id for r in records if r.judgment and r.judgment.score == 1.0][:60]
    ratings = [_preference(e, "cheap", 0.0, reviewer) for e in judged_wins for reviewer in ("amy", "bob")]
    ratings.append(OutcomeFeedback(event_id=judged_wins[0], subject="cheap", kind="preference", value=0.7,
                                   ts=datetime.now(UTC)))  # not 0, 0.5 or 1: dead-lettered with its reason
    worker = processes.start("worker", settings, "worker")
    with pytest.raises(Exception, match="use 1"):
        publish_feedback(settings, ratings[-1:])  # the publisher refuses it already
    assert publish_feedback(settings, ratings[:-1]) == 120
    stored = "SELECT count() FROM shadow_feedback FINAL WHERE kind = 'preference' AND startsWith(event_id, {p:String})"
    wait_until(lambda: clickhouse.command(stored, parameters={"p": f"{app}:"}) == 120, 90,
               "the worker's feedback agent to store the ratings", worker)
    row = clickhouse.query("SELECT reviewer, shown_first, queue_reason, rating_production, rating_challenger, note "
                           "FROM shadow_feedback FINAL WHERE event_id = {e:String} ORDER BY reviewer",
                           parameters={"e": judged_wins[0]}).result_rows
    assert row == [("amy", "production", "random", 4.0, 2.0, "the shorter one misses the point"),
                   ("bob", "production", "random", 4.0, 2.0, "the shorter one misses the point")]

    report = verdicts(clickhouse, settings, app)
    after = {v.challenger: v for v in report.verdicts}["cheap"]
    [calibration] = report.calibration
    assert calibration.judge_version == "pairwise-1:sim" and calibration.pairs == 60
    assert calibration.accuracy == 0.0 and not calibration.counts
    assert calibration.random_pairs == 60 and calibration.judged_pairs == N
    assert after.quality_source == "people" and after.quality.pairs == 60 and after.quality.win_rate == 0.0
    assert after.verdict == "reject" and after.quality.outcome == "worse"
    assert "people's pairwise ratings" in after.answered
    assert any("below the agreement floor" in line for line in after.explanation)
    assert after.summary()["judge_agreement"]["counts"] is False
