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


def test_trend_over_days_the_month_so_far_and_its_projection(clickhouse):
    from datetime import UTC, datetime

    app = f"cost-month-{uuid.uuid4().hex[:8]}"
    insert(clickhouse, _records(app, "cheap", seed=1, cost=0.001))  # 400 calls from 2026-03-02 over 26 h
    now = datetime(2026, 3, 11, tzinfo=UTC)  # 10 of March's 31 days gone
    report = cost_report(clickhouse, Settings(), Scope(app=app), top=3, days=30, now=now)
    assert report.month.spent_usd == pytest.approx(0.4) and report.month.days_in_month == 31
    assert report.month.elapsed_days == pytest.approx(10) and report.month.projected_usd == pytest.approx(1.24)
    assert [line.period.day for line in report.trend] == [2, 3] and len(report.top_expensive) == 3
    assert cost_report(clickhouse, Settings(), Scope(app=app), days=7, now=now).trend == []  # since 2026-03-04
    over = cost_report(clickhouse, Settings(), Scope(app=app), now=now, budget_usd=0.3, budget_period="month")
    assert [(a.period, round(a.challenger_cost_usd, 6)) for a in over.budget_alerts] == [("month", 0.4)]
    assert not cost_report(clickhouse, Settings(), Scope(app=app), now=now, budget_usd=0.5,
                           budget_period="month").budget_alerts


def test_a_budget_set_at_run_time_is_kept_recorded_and_alerted_once(stack_settings, clickhouse, monkeypatch, capsys):
    import json
    from datetime import UTC, datetime, timedelta

    from analytics.history import list_history
    from shadow_optic.cli import main
    from shadow_optic.monitor import Monitor

    run = uuid.uuid4().hex[:8]
    settings = stack_settings.model_copy(update={"app_name": f"cost-budget-{run}", "champion_key_prefix": f"c-{run}",
                                                 "kafka_bootstrap": None, "monitor_port": 0})
    for field in ("clickhouse_url", "redis_url", "app_name", "champion_key_prefix"):
        monkeypatch.setenv(f"SHADOW_{field.upper()}", str(getattr(settings, field)))
    monkeypatch.setenv("SHADOW_KAFKA_BOOTSTRAP", stack_settings.kafka_bootstrap)
    # Today's spend (the monitor alerts on the current day): calls between today's start and now.
    now = datetime.now(UTC)
    start = max(now - timedelta(minutes=10), now.replace(hour=0, minute=0, second=0, microsecond=0))
    insert(clickhouse, make_records(settings.app_name, "cheap", 100, seed=1, cost=0.001,
                                    hours=(now - start).total_seconds() / 3600 / 2, start=start))
    assert main(["costs", "--set-budget", "0.05", "--period", "day", "--json", "--days", "7"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["budget_usd"] == 0.05 and report["budget_period"] == "day" and report["budget_alerts"]
    assert report["month"]["spent_usd"] >= 0.1 - 1e-9
    record = list_history(clickhouse, settings.app_name, 1)[0]
    assert (record.kind, record.verdict, record.evidence["after"]["usd"]) == ("budget", "set", 0.05)

    monitor = Monitor(settings, holder="test")
    try:
        fired = monitor.check_cost_budget()
        assert fired["state"] == "firing" and fired["value"] == pytest.approx(0.1) and fired["threshold"] == 0.05
        assert monitor.check_cost_budget() is None  # still over: nothing sent twice
        assert main(["costs", "--set-budget", "5", "--json"]) == 0
        assert monitor.check_cost_budget()["state"] == "cleared"
    finally:
        monitor.close()
