"""Pure report parts: window choice, divergence reasons, plots and the HTML page (no services)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

from analytics.calibration import calibrate
from analytics.costs import CostLine
from analytics.lag import GroupLag, PartitionLag
from analytics.promotion import ChallengerEvidence, decide
from analytics.reports.data import DelayPoint, ReportData, pick_window_minutes
from analytics.reports.exports import divergence_reasons
from analytics.reports.html import PLOT_TITLES, render_html
from analytics.reports.plots import all_plots
from analytics.judgments import QualityEvidence
from analytics.service import PromotionReport
from analytics.windows import DriftRow
from schemas.settings import Settings

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def _row(name: str, i: int, sim: float) -> DriftRow:
    return DriftRow(challenger=name, window_start=T0 + timedelta(minutes=15 * i),
                    window_end=T0 + timedelta(minutes=15 * (i + 1)), rows=10, ok=10, errors=0, error_rate=0.0,
                    mean_similarity=sim, sd_similarity=0.1, p05_similarity=sim - 0.1, p50_similarity=sim,
                    p95_similarity=sim + 0.05, mean_delta_s=1 - sim, p95_delta_s=1.1 - sim, mean_latency_delta_ms=5,
                    p50_latency_delta_ms=5, p95_latency_delta_ms=20, p99_latency_delta_ms=30,
                    p95_production_latency_ms=200, p95_challenger_latency_ms=210, p95_latency_increase=0.05,
                    refusal_rate=0.0, flips=0, flip_rate=0.0, exact_match_rate=0.0,
                    production_cost_usd=0.02, challenger_cost_usd=0.01, cost_delta_usd=-0.01, challenger_tokens=100)


def _data(empty: bool = False) -> ReportData:
    settings = Settings()
    judged = QualityEvidence(judge_version="pairwise-1:j", pairs=50, score_sum=45, score_sq=45, flips=5,
                             not_judged=2, length_ratio=1.7)
    verdicts = [] if empty else [decide(ChallengerEvidence(challenger="small-<b>model", rows=50, ok=50,
                                                           mean_similarity=0.8, quality=judged), settings)]
    calibration = [] if empty else [calibrate("pairwise-1:<j>", [(1.0, 1.0, True), (0.0, 1.0, False)] * 12,
                                              judged_pairs=50, flips=5, min_kappa=0.4, min_pairs=20)]
    report = PromotionReport(app="shop", scorer_version="v1", generated_at=T0, lag=None, verdicts=verdicts,
                             recommended=None, calibration=calibration)
    if empty:
        return ReportData(app="shop", generated_at=T0, scorer_version="", window_minutes=5, verdicts=report)
    return ReportData(
        app="shop", generated_at=T0, scorer_version="v1", window_minutes=15, verdicts=report, control=["ctrl"],
        series=[_row("small-<b>model", i, 0.8) for i in range(4)] + [_row("ctrl", i, 0.9) for i in range(4)],
        latency_samples={"production": [100.0, 120, 140], "small-<b>model": [90.0, 95, 300]},
        cost_summary=[CostLine(challenger="small-<b>model", requests=40, production_cost_usd=0.08,
                               challenger_cost_usd=0.04, cost_delta_usd=-0.04, challenger_cost_per_request=0.001,
                               savings_ratio=0.5)],
        delay=[DelayPoint(window_start=T0 + timedelta(minutes=15 * i), p50_s=1.0 + i, p95_s=3.0 + i, rows=10)
               for i in range(4)],
        lag=GroupLag(group="g", state="STABLE", checked_at=T0,
                     partitions=[PartitionLag(topic="shadow.requests", partition=0, committed_offset=5, end_offset=9,
                                              lag=4, lag_seconds=2.5)]))


def test_pick_window_minutes_gives_about_48_points() -> None:
    assert pick_window_minutes(None, None) == 5
    assert pick_window_minutes(T0, T0 + timedelta(minutes=30)) == 1
    assert pick_window_minutes(T0, T0 + timedelta(hours=26)) == 60
    assert pick_window_minutes(T0, T0 + timedelta(days=400)) == 1440


def test_divergence_reasons_name_every_flip() -> None:
    reasons = divergence_reasons({"similarity": 0.2, "label_flip": "reject->approve", "refusal_production": False,
                                  "refusal_challenger": True, "json_fields_changed": ["amount"],
                                  "latency_delta_ms": 450.0})
    assert reasons[0].startswith("similarity 0.200 (ΔS 0.800)")
    assert "label flip reject->approve" in reasons
    assert "challenger refused, production answered" in reasons
    assert "JSON fields changed: amount" in reasons and "latency delta +450 ms" in reasons
    assert divergence_reasons({"similarity": 0.9}) == ["similarity 0.900 (ΔS 0.100)"]


def test_plots_are_png_and_html_embeds_them_escaped() -> None:
    data = _data()
    plots = all_plots(data)
    assert set(plots) == set(PLOT_TITLES)
    for encoded in plots.values():
        assert base64.b64decode(encoded)[:8] == b"\x89PNG\r\n\x1a\n"
    page = render_html(data, plots)
    assert page.count('<img alt="') == 4 and page.count("data:image/png;base64,") == 4
    assert "small-&lt;b&gt;model" in page and "small-<b>model" not in page  # names are escaped
    # Both questions: the win rate with its interval, judged pairs and length ratio; equivalence.
    assert "better (judge)" in page and "0.900 [" in page and "50 (+2 not judged)" in page and ">1.70<" in page
    assert "win rate [interval]" in page and "noise floor" in page and "equivalence" in page
    assert "shadow.requests" in page and "total lag 4 messages" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page  # self-contained


def test_empty_report_still_renders() -> None:
    data = _data(empty=True)
    page = render_html(data, all_plots(data))
    assert "no challenger scored yet" in page and page.count("<img") == 4
    assert "consumer lag not read" in page


def test_the_report_shows_each_judge_against_people() -> None:
    html = render_html(_data(), {})
    assert "<h2>Judges against people</h2>" in html and "pairwise-1:&lt;j&gt;" in html
    assert "24</td><td>0.500 [" in html  # 24 pairs rated by both, accuracy 0.5 with its bootstrap interval
    assert "below the agreement floor" in html and "10.0%" in html  # the judge's flip rate
    assert "nothing to calibrate" in render_html(_data(empty=True), {})
