"""Every statistic computed in ClickHouse equals numpy/scipy on the same rows (to 1e-6)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from analytics.evidence import gather_evidence
from analytics.outcomes import outcome_comparison, outcome_pairs, outcome_stats_sql, record_feedback
from analytics.readiness import readiness
from analytics.costs import cost_report
from analytics.scope import Scope
from analytics.windows import DriftQuery, drift
from schemas.events import OutcomeFeedback
from schemas.settings import Settings
from tests.integration.analytics.synthetic import START, insert, make_records

N = 1500


@pytest.fixture(scope="module")
def dataset(stack_settings):
    from infra.clickhouse import connect

    client = connect(stack_settings.clickhouse_url)
    app = f"stats-{uuid.uuid4().hex[:8]}"
    worse = make_records(app, "worse", N, seed=1, shift=-0.05, error_rate=0.02, refusal_rate=0.01, cost=0.0008)
    control = make_records(app, "control", N, seed=2, control=True, cost=0.002)
    insert(client, worse)
    insert(client, control)
    insert(client, worse[:300])  # at-least-once: a batch written twice
    rng = np.random.default_rng(9)
    feedback = []
    for r in worse[:800]:
        if r.status != "ok":
            continue
        base = rng.normal(0.5, 0.2)
        feedback.append(OutcomeFeedback(event_id=r.event_id, subject="production", kind="reward", value=base, ts=r.ts_request))
        feedback.append(OutcomeFeedback(event_id=r.event_id, subject="worse", kind="reward",
                                        value=base + rng.normal(-0.03, 0.15), ts=r.ts_request))
    record_feedback(client, feedback)
    yield client, app, worse, control
    client.close()


def _ok(records):
    return [r for r in records if r.status == "ok"]


def test_exact_drift_equals_numpy(dataset):
    client, app, worse, _ = dataset
    rows = drift(client, DriftQuery(scope=Scope(app=app), minutes=60, source="exact", challenger="worse"))
    assert sum(r.rows for r in rows) == N  # the duplicated batch counts once
    first = rows[0]
    in_window = [r for r in worse if r.ts_request < START + timedelta(hours=1)]
    ok = _ok(in_window)
    sims = np.array([r.similarity for r in ok])
    lat = np.array([r.latency_delta_ms for r in ok])
    assert first.rows == len(in_window) and first.ok == len(ok)
    assert first.mean_similarity == pytest.approx(sims.mean(), abs=1e-9)
    assert first.sd_similarity == pytest.approx(sims.std(ddof=1), abs=1e-6)
    for got, q in ((first.p05_similarity, 5), (first.p50_similarity, 50), (first.p95_similarity, 95)):
        assert got == pytest.approx(np.percentile(sims, q), abs=1e-9)
    for got, q in ((first.p50_latency_delta_ms, 50), (first.p95_latency_delta_ms, 95), (first.p99_latency_delta_ms, 99)):
        assert got == pytest.approx(np.percentile(lat, q), abs=1e-6)
    assert first.mean_delta_s == pytest.approx(1 - sims.mean(), abs=1e-9)
    assert first.error_rate == pytest.approx(1 - len(ok) / len(in_window), abs=1e-12)
    assert first.refusal_rate == pytest.approx(np.mean([r.refusal_challenger for r in ok]), abs=1e-12)


def test_minute_view_matches_exact_path_and_counts_duplicates(dataset):
    client, app, _, _ = dataset
    view = drift(client, DriftQuery(scope=Scope(app=app), minutes=1440, source="view", challenger="control"))
    exact = drift(client, DriftQuery(scope=Scope(app=app), minutes=1440, source="exact", challenger="control"))
    assert [(v.window_start, v.rows, v.ok) for v in view] == [(e.window_start, e.rows, e.ok) for e in exact]
    for v, e in zip(view, exact):
        assert v.mean_similarity == pytest.approx(e.mean_similarity, abs=1e-9)
        assert v.challenger_cost_usd == pytest.approx(e.challenger_cost_usd, abs=1e-9)
        assert v.p50_similarity == pytest.approx(e.p50_similarity, abs=0.02)  # t-digest: approximate
    # The view is at-least-once by design (docs/analytics.md): the batch written twice shows up there.
    worse_view = sum(r.rows for r in drift(client, DriftQuery(scope=Scope(app=app), minutes=1440, challenger="worse")))
    assert worse_view == N + 300


@pytest.mark.parametrize("minutes, step, by", [(60, None, []), (60, 15, ["route"]), (5, None, ["tenant"]),
                                               (1440, 60, []), (7, None, [])])
def test_every_view_tier_matches_the_exact_path(dataset, minutes, step, by):
    """Hour, 5-minute and minute tiers (whichever the window picks) count what the exact path counts."""
    client, app, _, _ = dataset
    query = DriftQuery(scope=Scope(app=app), minutes=minutes, step_minutes=step, by=by, challenger="control")
    view = drift(client, query)
    exact = drift(client, query.model_copy(update={"source": "exact"}))
    key = lambda r: (r.route, r.tenant, r.window_start, r.rows, r.ok, r.errors, r.flips)  # noqa: E731
    assert [key(v) for v in view] == [key(e) for e in exact] and len(view) > 1
    for v, e in zip(view, exact):
        assert v.mean_similarity == pytest.approx(e.mean_similarity, abs=1e-9)
        assert v.challenger_cost_usd == pytest.approx(e.challenger_cost_usd, abs=1e-9)


def test_sliding_windows_cover_each_row_once_per_overlap(dataset):
    client, app, _, control = dataset
    rows = drift(client, DriftQuery(scope=Scope(app=app), minutes=60, step_minutes=15, source="exact",
                                    challenger="control", by=["route"]))
    assert sum(r.rows for r in rows) == 4 * len(control)
    assert {r.route for r in rows} == {"chat", "search"}
    window = rows[5]
    members = [r for r in control if r.route == window.route and window.window_start <= r.ts_request.replace(tzinfo=None)
               < window.window_end]
    assert window.rows == len(members)


def test_sliding_windows_start_inside_the_scope(dataset):
    """A window starting before `since` would hold only part of its rows: windows start in [since, until)."""
    client, app, _, control = dataset
    since = min(r.ts_request for r in control).replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    for source in ("view", "exact"):
        rows = drift(client, DriftQuery(scope=Scope(app=app, since=since), minutes=60, step_minutes=15, source=source,
                                        challenger="control"))
        assert min(r.window_start for r in rows) == since.replace(tzinfo=None)
        first = rows[0]
        assert first.rows == sum(since <= r.ts_request < since + timedelta(hours=1) for r in control)


def test_paired_evidence_equals_scipy(dataset):
    client, app, worse, control = dataset
    evidence = gather_evidence(client, Scope(app=app, scorer_version="v1"), 0.85, with_outcomes=False)
    assert [e.challenger for e in evidence] == ["worse"]
    e = evidence[0]
    ctrl = {r.event_id: r.similarity for r in _ok(control)}
    pairs = [(r.similarity, ctrl[r.event_id]) for r in _ok(worse) if r.event_id in ctrl]
    d = np.array([a - b for a, b in pairs])
    assert e.paired_n == len(d)
    assert e.paired_mean == pytest.approx(d.mean(), abs=1e-9)
    assert e.paired_sd == pytest.approx(d.std(ddof=1), abs=1e-9)
    # The t statistic from the SQL summary equals scipy's paired t-test.
    t = e.paired_mean / (e.paired_sd / np.sqrt(e.paired_n))
    assert t == pytest.approx(stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs]).statistic, abs=1e-6)
    assert e.rows == N and e.errors == sum(r.status != "ok" for r in worse)
    # Gate latencies are p95s merged from hourly t-digests: a sketch, checked at its documented 1 %.
    lat = np.array([r.latency_delta_ms for r in _ok(worse)])
    assert e.p95_latency_delta_ms == pytest.approx(np.percentile(lat, 95), rel=0.01)


def test_outcome_statistics_in_sql_equal_scipy(dataset):
    client, app, _, _ = dataset
    scope = Scope(app=app, scorer_version="v1")
    pairs = outcome_pairs(client, scope, "worse", "reward")
    c = np.array([p[2] for p in pairs])
    p = np.array([p[3] for p in pairs])
    d = c - p
    s = outcome_stats_sql(client, scope, "worse", "reward")
    ref = stats.ttest_rel(c, p)
    assert s.n == len(d) > 700
    assert s.t == pytest.approx(ref.statistic, abs=1e-6) and s.p_value == pytest.approx(ref.pvalue, abs=1e-6)
    assert s.sharpe == pytest.approx(d.mean() / d.std(ddof=1), abs=1e-6)
    cumulative = np.cumsum(d)
    assert s.max_drawdown == pytest.approx((np.maximum.accumulate(np.maximum(cumulative, 0)) - cumulative).max(), abs=1e-6)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    z = (wins - (wins + losses) / 2) / np.sqrt((wins + losses) / 4)
    assert (s.wins, s.losses) == (wins, losses)
    assert s.win_z == pytest.approx(z, abs=1e-9) and s.win_p == pytest.approx(2 * stats.norm.sf(abs(z)), abs=1e-9)
    comparison = outcome_comparison(client, scope, "worse", resamples=10_000)
    assert comparison.resamples == 10_000 and comparison.ci_low < d.mean() < comparison.ci_high


def test_readiness_and_costs_equal_numpy(dataset):
    client, app, worse, control = dataset
    settings = Settings(readiness_min_pairs=1000, cost_budget_usd_per_day=0.5)
    ready = {r.challenger: r for r in readiness(client, settings, Scope(app=app, scorer_version="v1"))}
    ok = _ok(worse)
    assert ready["worse"].pairs == len(ok) and not ready["worse"].ready
    assert ready["worse"].mean_similarity == pytest.approx(np.mean([r.similarity for r in ok]), abs=1e-9)
    assert ready["worse"].p95_latency_ms == pytest.approx(np.percentile([r.challenger_latency_ms for r in ok], 95), abs=1e-6)
    assert any("errors" in reason for reason in ready["worse"].reasons)
    report = cost_report(client, settings, Scope(app=app), top=3)
    summary = {c.challenger: c for c in report.summary}
    assert summary["control"].challenger_cost_usd == pytest.approx(sum(r.challenger_cost_usd for r in control), abs=1e-9)
    assert report.top_expensive[0].challenger == "control"
    assert sum(c.requests for c in report.hourly if c.challenger == "control") == N
    assert report.budget_alerts and all(a.challenger_cost_usd > 0.5 for a in report.budget_alerts)
