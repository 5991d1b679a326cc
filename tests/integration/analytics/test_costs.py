"""Each (event, challenger) costs once: across scorer versions (`rescore`) and duplicate inserts."""

from __future__ import annotations

import uuid

import pytest

from analytics.costs import cost_report
from analytics.scope import Scope
from schemas.settings import Settings
from tests.integration.analytics.synthetic import insert, make_records

pytestmark = pytest.mark.integration
N = 400


def _records(app: str, challenger: str, **kwargs):
    """Event ids are unique to the app (synthetic.py): the table's key is (challenger, scorer_version,
    event_id), not the app."""
    return make_records(app, challenger, N, **kwargs)


def _figures(report):
    return ({c.challenger: (c.requests, round(c.challenger_cost_usd, 9), round(c.production_cost_usd, 9))
             for c in report.summary},
            sorted((c.challenger, c.period, c.requests, round(c.challenger_cost_usd, 9)) for c in report.trend),
            sorted((c.challenger, c.period, c.requests, round(c.challenger_cost_usd, 9)) for c in report.hourly),
            [(a.day, round(a.challenger_cost_usd, 9)) for a in report.budget_alerts],
            [(t.event_id.split(":")[-1], t.challenger) for t in report.top_expensive])


def test_costs_count_each_call_once_across_rescores_and_duplicate_inserts(clickhouse):
    settings = Settings(cost_budget_usd_per_day=0.15)
    once, many = f"cost-once-{uuid.uuid4().hex[:8]}", f"cost-many-{uuid.uuid4().hex[:8]}"
    for app in (once, many):
        insert(clickhouse, _records(app, "cheap", seed=1, cost=0.0008, error_rate=0.05))
        insert(clickhouse, _records(app, "control", seed=2, cost=0.002, control=True))
    # the same calls again: rescored under a second scorer version, and a batch of each written twice
    for version in ("v1", "v2"):
        cheap = _records(many, "cheap", seed=1, cost=0.0008, error_rate=0.05, scorer_version=version)
        insert(clickhouse, cheap[: N // 2])
        if version == "v2":
            insert(clickhouse, cheap)
            insert(clickhouse, _records(many, "control", seed=2, cost=0.002, control=True, scorer_version=version))
    expected = cost_report(clickhouse, settings, Scope(app=once), top=5)
    got = cost_report(clickhouse, settings, Scope(app=many), top=5)
    summary = {c.challenger: c for c in expected.summary}
    assert summary["control"].requests == N and summary["control"].challenger_cost_usd == pytest.approx(N * 0.002)
    assert summary["cheap"].requests == N
    assert expected.budget_alerts  # 26 h of 0.0008 + 0.002 per event: over 0.15 on the first day
    assert _figures(got) == _figures(expected)
    assert len({(t.event_id, t.challenger) for t in got.top_expensive}) == 5  # no call listed twice
