"""The terminal dashboard: champion, challengers with their figures, health marks, promotion progress, lag.

`collect_overview` reads (ClickHouse, Redis, Kafka); `render` is pure (Overview -> rich renderable), so
`--once`, `--json` and the live view show the same thing.
"""

from __future__ import annotations

import asyncio

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from analytics.reports.overview import ChallengerRow, LagSummary, Overview, RegisteredChallenger
from infra.redis_clients import redis_options
from schemas.settings import Settings

__all__ = ["bar", "score_bar", "health_glyph", "render", "collect_overview", "registered_challengers", "read_lag"]

_HEALTH = {"healthy": ("●", "green"), "degraded": ("▲", "yellow"), "down": ("✖", "red"), "idle": ("○", "dim"),
           "unknown": ("?", "dim")}
_VERDICT_STYLE = {"promote": "bold green", "manual_review": "bold yellow", "reject": "bold red",
                  "insufficient_data": "dim", "stale": "magenta", "control": "cyan"}


def bar(fraction: float, width: int = 8) -> str:
    """A text progress bar, clamped to 0..1: bar(0.5, 4) == '██░░'."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "█" * filled + "░" * (width - filled)


def score_bar(score: float, review_at: float, promote_at: float, width: int = 8) -> Text:
    style = "green" if score >= promote_at else "yellow" if score >= review_at else "red"
    return Text.assemble((bar(score / 100, width), style), f" {score:4.1f}")


def health_glyph(mark: str) -> Text:
    glyph, style = _HEALTH.get(mark, _HEALTH["unknown"])
    return Text.assemble((glyph, style))


def _f(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def _similarity(row: ChallengerRow) -> str:
    if row.mean_similarity is None:
        return "—"
    if row.noise_floor is None:
        return f"{row.mean_similarity:.3f}"
    return f"{row.mean_similarity:.3f} ({row.mean_similarity - row.noise_floor:+.3f})"


def _quality(row: ChallengerRow) -> Text:
    """The quality question: the judge's win rate with its interval and judged pairs, and the outcome."""
    if row.quality is None:
        return Text("no signal" if row.verdict and row.verdict != "control" else "—", style="dim")
    style = {"better": "green", "not_worse": "green", "worse": "red"}.get(row.quality, "yellow")
    figure = "" if row.win_rate is None else f" {row.win_rate:.2f}"
    if row.win_rate_low is not None and row.win_rate_high is not None:
        figure += f" [{row.win_rate_low:.2f},{row.win_rate_high:.2f}]"
    length = "" if row.length_ratio is None else f" len {row.length_ratio:.1f}×"  # judges favour longer answers
    return Text(row.quality.replace("_", " "), style=style) + Text(figure + f" n={row.judged_pairs}{length}")


def _equivalence(row: ChallengerRow) -> str:
    return {"within_noise": "within noise", "different": "different", "undecided": "undecided"}.get(
        row.equivalence or "", "—")


def _cost(row: ChallengerRow) -> str:
    if row.challenger_cost_usd is None:
        return "—"
    ratio = f" {row.cost_ratio:.2f}×" if row.cost_ratio is not None else ""
    return f"${row.challenger_cost_usd:.4f}{ratio}"


def _challenger_table(overview: Overview) -> Table:
    table = Table(header_style="bold", title="Challengers", title_justify="left", padding=(0, 1))
    for name, justify in (("", "center"), ("challenger", "left"), ("rows", "right"), ("quality: win rate", "left"),
                          ("equiv.", "left"), ("sim (vs floor)", "right"), ("p95 Δlat", "right"), ("err", "right"), ("refus.", "right"),
                          ("cost (×prod)", "right"), ("verdict", "left"), ("score", "left"), ("samples", "left"),
                          ("coverage", "left")):
        # The name may wrap (long names); figures and bars never do.
        table.add_column(name, justify=justify, no_wrap=name != "challenger",
                         min_width=12 if name == "challenger" else None)
    for row in overview.challengers:
        name = Text(row.name) + (Text(" control", style="cyan") if row.control else Text(""))
        if not row.registered:
            name += Text(" ¬reg", style="dim")  # scored but not in the registry (removed, or configured elsewhere)
        progress = row.progress
        samples = coverage = score = Text("—", style="dim")
        if progress is not None:
            samples = Text(bar(progress.samples / progress.min_samples)) + Text(
                f" {progress.samples}/{progress.min_samples}")
            coverage = Text(bar(progress.hours / progress.diurnal_hours if progress.diurnal_hours else 1.0)) + Text(
                f" {progress.hours:.0f}/{progress.diurnal_hours:.0f}h")
            score = score_bar(progress.score, progress.review_at, progress.promote_at)
        verdict = Text(row.verdict or "—", style=_VERDICT_STYLE.get(row.verdict or "", ""))
        table.add_row(health_glyph(row.health), name, str(row.rows), _quality(row),
                      _equivalence(row), _similarity(row),
                      _f(row.p95_latency_delta_ms, "+.0f"), _f(row.error_rate, ".1%"), _f(row.refusal_rate, ".1%"),
                      _cost(row), verdict, score, samples, coverage)
    if not overview.challengers:
        table.add_row("", Text("no challenger registered or scored yet", style="dim"), *[""] * 12)
    return table


def _lag_line(lag: LagSummary | None) -> Text:
    if lag is None:
        return Text("lag: not checked", style="dim")
    if lag.total_lag is None:
        return Text(f"lag: group {lag.group} unknown ({lag.error}) — verdicts wait", style="magenta")
    seconds = f", oldest unconsumed {lag.max_lag_seconds:.1f}s" if lag.max_lag_seconds is not None else ""
    state = Text(" STALE: verdicts wait", style="bold magenta") if lag.stale else Text(" fresh", style="green")
    return Text(f"lag: group {lag.group} {lag.total_lag} msgs{seconds} —") + state


def render(overview: Overview) -> RenderableType:
    c = overview.champion
    if c.champion:
        since = f" since {c.updated_at:%Y-%m-%d %H:%M} UTC" if c.updated_at else ""
        champion = Text("champion: ", style="bold") + Text(c.champion, style="bold green") + Text(
            f"  (version {c.version}, previous {c.previous or '—'}{since})")
    else:
        champion = Text("champion: ", style="bold") + Text(
            f"production ({overview.production_model or 'model unknown'}), never promoted")
    figures = Text(f"production p95 latency {_f(overview.p95_production_latency_ms, '.0f')} ms · "
                   f"production cost ${_f(overview.production_cost_usd, '.4f')} · "
                   f"recommended: {overview.recommended or 'none'} · scorer {overview.scorer_version or '—'}")
    legend = Text(f"health (last {overview.health_window_minutes} min): ", style="dim")
    for mark in ("healthy", "degraded", "down", "idle"):
        legend += health_glyph(mark) + Text(f" {mark}  ", style="dim")
    legend += Text("· ¬reg: not in the registry · progress: samples and hours of the minimum, score vs bands",
                   style="dim")
    header = Group(champion, figures, _lag_line(overview.lag), legend)
    title = f"Shadow-Optic — app {overview.app or '(all)'} — {overview.generated_at:%Y-%m-%d %H:%M:%S} UTC"
    return Group(Panel(header, title=title, title_align="left"), _challenger_table(overview))


def registered_challengers(settings: Settings) -> list[RegisteredChallenger]:
    """The run-time registry (read only), with the configured challengers a worker would seed at start."""
    import redis.asyncio as aioredis

    from stream_agents.registry import ChallengerRegistry, registry_prefix

    async def load() -> list[RegisteredChallenger]:
        async with aioredis.Redis.from_url(settings.redis_url,
                                           **redis_options(settings.redis_url, settings.redis_security)) as client:
            _, configs = await ChallengerRegistry(client, registry_prefix(settings.topic_prefix)).view(
                settings.challengers)
        return [RegisteredChallenger(name=c.name, model=c.model, control=c.control) for c in configs]

    return asyncio.run(load())


def read_lag(settings: Settings, monitor) -> LagSummary:  # noqa: ANN001 - analytics.lag.LagMonitor
    from analytics.reports.overview import summarize_lag
    from schemas.errors import ShadowOpticError

    try:
        from analytics.staleness import pipeline_topics

        return summarize_lag(settings, monitor.describe(settings.consumer_group, topics=pipeline_topics(settings)))
    except ShadowOpticError as exc:
        return summarize_lag(settings, None, str(exc))


def collect_overview(settings: Settings, app: str, client, monitor=None,  # noqa: ANN001 - CH client, LagMonitor
                     health_window_minutes: int = 15) -> Overview:
    from analytics.champion import ChampionRegistry
    from analytics.reports.overview import gather_overview

    champions = ChampionRegistry.from_url(settings.redis_url, settings.champion_key_prefix, settings.redis_security)
    lag = read_lag(settings, monitor) if monitor is not None else None
    return gather_overview(client, settings, app, champions.current(app), registered_challengers(settings), lag,
                           health_window_minutes)
