"""Pure dashboard rendering: bars, health marks, the overview picture and its JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from analytics.champion import ChampionState
from analytics.reports.overview import (ChallengerRow, LagSummary, Overview, Progress, RecentHealth, health_mark)
from shadow_optic.dashboard import bar, render, score_bar


def _overview(**extra) -> Overview:
    row = ChallengerRow(name="cheap-model", model="m", registered=True, rows=600, mean_similarity=0.91,
                        noise_floor=0.93, delta_s=0.09, p95_latency_delta_ms=-40.0, error_rate=0.002,
                        refusal_rate=0.0, challenger_cost_usd=0.12, cost_ratio=0.4, verdict="insufficient_data",
                        quality="better", win_rate=0.92, win_rate_low=0.87, win_rate_high=0.97, judged_pairs=403,
                        length_ratio=4.5, equivalence="different", score=64.0, confidence=0.0, health="degraded",
                        progress=Progress(samples=600, min_samples=1000, hours=12.0, diurnal_hours=24.0, score=64.0,
                                          review_at=50, promote_at=70))
    control = ChallengerRow(name="ctrl", control=True, registered=True, rows=600, verdict="control", health="healthy")
    fields = dict(app="shop", generated_at=datetime(2026, 3, 2, tzinfo=UTC), health_window_minutes=15,
                  champion=ChampionState(app="shop", champion=None, previous=None, version=0, decision_id=None,
                                         updated_at=None),
                  production_model="gpt-4", lag=LagSummary(group="g", total_lag=5000, stale=True),
                  challengers=[row, control])
    return Overview(**{**fields, **extra})


def _text(renderable) -> str:
    console = Console(width=220, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_bar_clamps_and_fills() -> None:
    assert bar(0.5, 4) == "██░░"
    assert bar(2.0, 4) == "████"
    assert bar(-1, 3) == "░░░"


def test_score_bar_colour_follows_bands() -> None:
    assert score_bar(75, 50, 70).spans[0].style == "green"
    assert score_bar(60, 50, 70).spans[0].style == "yellow"
    assert score_bar(10, 50, 70).spans[0].style == "red"


def test_health_mark_rules() -> None:
    assert health_mark(None, 0.01) == "idle"
    assert health_mark(RecentHealth(challenger="a", rows=10, ok=0, errors=10), 0.01) == "down"
    assert health_mark(RecentHealth(challenger="a", rows=10, ok=9, errors=1), 0.01) == "degraded"
    assert health_mark(RecentHealth(challenger="a", rows=10, ok=8, circuit_open=2), 0.5) == "degraded"
    assert health_mark(RecentHealth(challenger="a", rows=100, ok=100), 0.01) == "healthy"


def test_render_shows_champion_rows_progress_and_stale_lag() -> None:
    text = _text(render(_overview()))
    assert "production (gpt-4), never promoted" in text
    assert "cheap-model" in text and "ctrl control" in text and "ctrl control ¬reg" not in text
    assert "0.910 (-0.020)" in text  # similarity against the noise floor
    # Both questions: the judge's win rate with its interval and judged pairs, and equivalence.
    assert "better 0.92 [0.87,0.97] n=403 len 4.5×" in text and "different" in text
    assert "600/1000" in text and "12/24h" in text
    assert "STALE" in text and "5000 msgs" in text


def test_render_names_the_champion_and_empty_state() -> None:
    champion = ChampionState(app="shop", champion="cheap-model", previous="gpt-4", version=3, decision_id="d",
                             updated_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    text = _text(render(_overview(champion=champion, challengers=[], lag=None)))
    assert "champion: cheap-model" in text and "version 3, previous gpt-4" in text
    assert "no challenger registered or scored yet" in text and "lag: not checked" in text


def test_overview_json_round_trips() -> None:
    overview = _overview()
    again = Overview.model_validate_json(overview.model_dump_json())
    assert [c.name for c in again.challengers] == ["cheap-model", "ctrl"]
    assert again.challengers[0].progress.samples == 600
