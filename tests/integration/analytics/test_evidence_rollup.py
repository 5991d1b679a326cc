"""Rolled-up hours plus the raw tail give the same evidence as reading every pair, whatever arrives late."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest

from analytics.evidence import EVIDENCE_TABLE, gather_evidence, refresh_evidence
from analytics.scope import Scope
from tests.integration.analytics.synthetic import START, insert, make_records

N = 1200


def _truth(challenger_rows, control_rows, since=None, until=None):
    """count, ok and the paired mean/sd computed in numpy from the records themselves."""
    def inside(r):
        return (since is None or r.ts_request >= since) and (until is None or r.ts_request < until)
    rows = [r for r in challenger_rows if inside(r)]
    control = {r.event_id: r.similarity for r in control_rows if inside(r) and r.status == "ok"}
    d = np.array([r.similarity - control[r.event_id] for r in rows
                  if r.status == "ok" and r.similarity is not None and r.event_id in control])
    return len(rows), len(d), d.mean(), d.std(ddof=1)


def _check(evidence, truth):
    rows, n, mean, sd = truth
    assert evidence.rows == rows and evidence.paired_n == n
    assert evidence.paired_mean == pytest.approx(mean, abs=1e-9)
    assert evidence.paired_sd == pytest.approx(sd, abs=1e-9)


def test_rollup_and_tail_equal_a_full_read(clickhouse):
    app = f"rollup-{uuid.uuid4().hex[:8]}"
    challenger = make_records(app, "cheap", N, seed=3, shift=-0.03, error_rate=0.02, hours=30)
    # A classifier's labels on every third event; every fifth of those flips production's label.
    challenger = [r.model_copy(update={"label_agree": i % 5 != 0, "label_flip": "" if i % 5 else "reject->approve"})
                  if i % 3 == 0 else r for i, r in enumerate(challenger)]
    control = make_records(app, "control", N, seed=4, control=True, hours=30)
    insert(clickhouse, challenger)
    insert(clickhouse, control)
    scope = Scope(app=app, scorer_version="v1")
    before = gather_evidence(clickhouse, scope, 0.85, with_outcomes=False, refresh=False)

    refresh_evidence(clickhouse)
    rolled = clickhouse.command(f"SELECT count() FROM {EVIDENCE_TABLE} FINAL WHERE app = {{app:String}}",
                                parameters={"app": app})
    assert rolled >= 60  # 30 hours x 2 challengers now come from the rollup, not from shadow_scores
    after = gather_evidence(clickhouse, scope, 0.85, with_outcomes=False, refresh=False)
    assert len(before) == len(after) == 1
    _check(after[0], _truth(challenger, control))
    exact_fields = {"rows", "ok", "errors", "paired_n", "refusals", "flips", "first_ts", "last_ts", "label_n",
                    "label_agree", "label_flips"}
    assert before[0].model_dump(include=exact_fields) == after[0].model_dump(include=exact_fields)
    labelled = [i for i in range(N) if i % 3 == 0]
    assert after[0].label_n == len(labelled) and after[0].label_flips == sum(i % 5 == 0 for i in labelled)
    assert after[0].mean_similarity == pytest.approx(before[0].mean_similarity, abs=1e-9)
    lat = np.array([r.latency_delta_ms for r in challenger if r.status == "ok"])
    assert after[0].p95_latency_delta_ms == pytest.approx(np.percentile(lat, 95), rel=0.01)

    # Late and re-sent rows into rolled-up hours: a batch written twice counts once, a late event counts.
    late_challenger, late_control = (
        [r.model_copy(update={"event_id": "late-" + r.event_id}) for r in make_records(
            app, name, 5, seed=seed, control=name == "control", start=START + timedelta(hours=2), hours=0.5)]
        for name, seed in (("cheap", 7), ("control", 8)))
    insert(clickhouse, challenger[:400])
    insert(clickhouse, late_challenger)
    insert(clickhouse, late_control)
    late = gather_evidence(clickhouse, scope, 0.85, with_outcomes=False, refresh=False)[0]
    _check(late, _truth(challenger + late_challenger, control + late_control))

    # A window whose edges cut through rolled-up hours.
    since, until = START + timedelta(hours=3, minutes=17), START + timedelta(hours=21, minutes=41)
    window = gather_evidence(clickhouse, Scope(app=app, scorer_version="v1", since=since, until=until), 0.85,
                             with_outcomes=False, refresh=False)[0]
    _check(window, _truth(challenger + late_challenger, control + late_control, since, until))

    refresh_evidence(clickhouse)  # the dirty hours are rolled up again; the answer does not move
    _check(gather_evidence(clickhouse, scope, 0.85, with_outcomes=False, refresh=False)[0],
           _truth(challenger + late_challenger, control + late_control))
