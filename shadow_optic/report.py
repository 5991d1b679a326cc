"""Terminal output of analytics results (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from analytics.windows import DriftRow

__all__ = ["drift_table", "stdout_console", "drift_rows_table", "verdict_table", "action_line", "history_table",
           "cost_tables", "readiness_table", "alert_table"]


def stdout_console() -> Console:
    """Rich falls back to 80 columns when piped; the drift table needs more to stay readable."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=130)


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def drift_table(windows: list[DriftRow], minutes: int, console: Console | None = None,
                scorer_version: str | None = None) -> None:
    table = Table(title=f"Drift per challenger, {minutes}-minute windows (ΔS = 1 − similarity)",
                  caption=None if scorer_version is None else f"scorer {scorer_version}")
    for column, justify in (("challenger", "left"), ("window start (UTC)", "left"), ("rows", "right"),
                            ("ok", "right"), ("mean sim", "right"), ("mean ΔS", "right"),
                            ("p95 Δlatency ms", "right"), ("errors", "right"), ("Δcost $", "right")):
        table.add_column(column, justify=justify)
    for w in windows:
        table.add_row(w.challenger, w.window_start.strftime("%Y-%m-%d %H:%M"), str(w.rows), str(w.ok),
                      _fmt(w.mean_similarity, ".3f"), _fmt(w.mean_delta_s, ".3f"),
                      _fmt(w.p95_latency_delta_ms, "+.1f"), f"{w.error_rate:.1%}", f"{w.cost_delta_usd:+.4f}")
    (console or stdout_console()).print(table)


# --- analytics views (verdicts, actions, costs, readiness, alerts) ---------------------------------

def _table(title: str, columns: list[tuple[str, str]]) -> Table:
    table = Table(title=title)
    for column, justify in columns:
        table.add_column(column, justify=justify)
    return table


def drift_rows_table(rows, minutes: int, step: int | None, exact: bool, console: Console | None = None,
                     scorer_version: str | None = None) -> None:
    kind = f"sliding {minutes}-minute windows every {step} min" if step else f"{minutes}-minute windows"
    version = "" if scorer_version is None else f", scorer {scorer_version}"
    table = _table(f"Drift per challenger, {kind} ({'exact' if exact else 'rollup'}{version})",
                   [("challenger", "left"), ("route", "left"), ("tenant", "left"), ("window (UTC)", "left"),
                    ("rows", "right"), ("mean ΔS", "right"), ("p95 ΔS", "right"), ("Δlat p50/p95/p99 ms", "right"),
                    ("errors", "right"), ("refusals", "right"), ("flips", "right"), ("Δcost $", "right")])
    for w in rows:
        lat = "/".join(_fmt(v, "+.0f") for v in (w.p50_latency_delta_ms, w.p95_latency_delta_ms, w.p99_latency_delta_ms))
        table.add_row(w.challenger, w.route, w.tenant, w.window_start.strftime("%Y-%m-%d %H:%M"), str(w.rows),
                      _fmt(w.mean_delta_s, ".3f"), _fmt(w.p95_delta_s, ".3f"), lat, f"{w.error_rate:.1%}",
                      "—" if w.refusal_rate is None else f"{w.refusal_rate:.1%}", str(w.flips),
                      f"{w.cost_delta_usd:+.4f}")
    (console or stdout_console()).print(table)


def verdict_table(report, verbose: bool = False, console: Console | None = None) -> None:
    """Both questions side by side: quality (judge win rate or outcomes) and equivalence (noise floor)."""
    console = console or stdout_console()
    table = _table(f"Promotion verdicts for app {report.app or '(all)'} (scorer {report.scorer_version or '—'})",
                   [("challenger", "left"), ("verdict", "left"), ("score", "right"), ("quality", "left"),
                    ("win rate [interval]", "right"), ("judged", "right"), ("length ×", "right"),
                    ("equivalence", "left"), ("similarity", "right"), ("noise floor", "right"), ("cost ×", "right")])
    for v in report.verdicts:
        e, q, row = v.evidence, v.quality, v.summary()
        interval = "" if q is None or q.low is None else f" [{q.low:.2f}, {q.high:.2f}]"
        table.add_row(v.challenger, v.verdict, f"{v.score:.1f}",
                      "—" if q is None else f"{q.outcome.replace('_', ' ')} ({v.quality_source})",
                      "—" if q is None or q.win_rate is None else f"{q.win_rate:.3f}{interval}",
                      str(row["judged_pairs"]), _fmt(row["length_ratio"], ".2f"),
                      v.equivalence.outcome.replace("_", " "), _fmt(e.mean_similarity, ".3f"),
                      _fmt(e.control_similarity, ".3f"), _fmt(e.cost_ratio, ".2f"))
    console.print(table)
    console.print(f"recommended (cheapest passing): {report.recommended or 'none'}")
    for c in getattr(report, "calibration", []):
        kappa = "—" if c.kappa is None else f"{c.kappa:.3f}" + ("" if c.kappa_interval is None else
                                                              f" [{c.kappa_interval[0]:.3f}, {c.kappa_interval[1]:.3f}]")
        console.print(f"judge {c.judge_version} against people: {c.pairs} pairs rated by both, κ {kappa}, "
                      f"accuracy {'—' if c.accuracy is None else f'{c.accuracy:.3f}'}, flip rate "
                      f"{'—' if c.flip_rate is None else f'{c.flip_rate:.1%}'}: {c.status}")
    for v in report.verdicts:
        lines = v.explanation if verbose else v.explanation[:1]
        console.print(f"[bold]{v.challenger}[/] (answered: {v.answered}): " + "\n  ".join(lines))
        flagged = [s for s in v.slices if s.flagged]
        if flagged and not verbose:
            console.print("  worse on " + ", ".join(f"{s.dimension}={s.value} (win rate {s.win_rate:.2f} over "
                                                     f"{s.pairs})" for s in flagged))
        if verbose and v.canary_plan:
            console.print("  canary plan: " + " → ".join(f"{s.percent:g}% for {s.minutes} min" for s in v.canary_plan)
                          + f"; roll back if {v.canary_plan[0].rollback_if}")


def slice_table(report, console: Console | None = None) -> None:
    """The win rate per route and tenant for every judged challenger; flagged = worse there (Holm)."""
    rows = [(v.challenger, s) for v in report.verdicts for s in v.slices]
    if not rows:
        return
    table = _table("Quality per slice (judge win rate, Holm across each challenger's slices)",
                   [("challenger", "left"), ("slice", "left"), ("pairs", "right"), ("win rate [interval]", "right"),
                    ("outcome", "left"), ("flagged", "left")])
    for challenger, s in rows:
        interval = "" if s.low is None else f" [{s.low:.2f}, {s.high:.2f}]"
        table.add_row(challenger, f"{s.dimension}={s.value}", str(s.pairs),
                      _fmt(s.win_rate, ".3f") + interval, s.outcome.replace("_", " "), "WORSE" if s.flagged else "")
    (console or stdout_console()).print(table)


def action_line(result, console: Console | None = None) -> None:
    champion = result.champion.champion if result.champion else None
    (console or stdout_console()).print(
        f"{result.action} {result.challenger}: {'done' if result.done else 'NOT done'} — {result.reason}; "
        f"champion now {champion or '—'} (version {result.champion.version if result.champion else 0})"
        + (f"; rollout {result.rollout.rollout_id} {result.rollout.state}, step {result.rollout.step_index + 1}/"
           f"{len(result.rollout.steps)} ({result.rollout.share() * 100:g} % to {result.rollout.candidate})"
           if getattr(result, "rollout", None) else ""))


def history_table(records, console: Console | None = None) -> None:
    table = _table("Decision history", [("time (UTC)", "left"), ("kind", "left"), ("challenger", "left"),
                                        ("verdict", "left"), ("score", "right"), ("actor", "left"), ("reason", "left")])
    for r in records:
        table.add_row(r.ts.strftime("%Y-%m-%d %H:%M:%S"), r.kind, r.challenger, r.verdict, _fmt(r.score, ".1f"),
                      r.actor, r.reason)
    (console or stdout_console()).print(table)


def cost_tables(report, console: Console | None = None) -> None:
    console = console or stdout_console()
    for title, lines in (("Cost summary", report.summary), ("Cost per day", report.trend)):
        table = _table(title, [("challenger", "left"), ("period", "left"), ("requests", "right"),
                               ("production $", "right"), ("challenger $", "right"), ("Δ $", "right"),
                               ("$/request", "right"), ("savings", "right")])
        for c in lines:
            table.add_row(c.challenger, c.period.strftime("%Y-%m-%d") if c.period else "all", str(c.requests),
                          f"{c.production_cost_usd:.4f}", f"{c.challenger_cost_usd:.4f}", f"{c.cost_delta_usd:+.4f}",
                          f"{c.challenger_cost_per_request:.6f}", _fmt(c.savings_ratio, ".1%"))
        console.print(table)
    table = _table("Most expensive requests", [("event", "left"), ("challenger", "left"), ("route", "left"),
                                                ("challenger $", "right"), ("production $", "right"), ("tokens", "right")])
    for r in report.top_expensive:
        table.add_row(r.event_id, r.challenger, r.route, f"{r.challenger_cost_usd:.6f}", f"{r.production_cost_usd:.6f}",
                      str(r.challenger_tokens))
    console.print(table)
    month = getattr(report, "month", None)
    if month is not None:
        budget = "" if report.budget_usd is None else f"; budget ${report.budget_usd:.4f} per {report.budget_period}"
        console.print(f"{month.month:%Y-%m}: ${month.spent_usd:.4f} spent in {month.elapsed_days:.1f} of "
                      f"{month.days_in_month} days, projected ${month.projected_usd:.4f}{budget}")
    for alert in report.budget_alerts:
        console.print(f"[red]budget:[/] {alert.message}")


def readiness_table(results, console: Console | None = None) -> None:
    table = _table("Readiness", [("challenger", "left"), ("ready", "left"), ("pairs", "right"), ("mean sim", "right"),
                                 ("p95 latency ms", "right"), ("errors", "right"), ("missing", "left")])
    for r in results:
        table.add_row(r.challenger, "yes" if r.ready else "no", str(r.pairs), _fmt(r.mean_similarity, ".3f"),
                      _fmt(r.p95_latency_ms, ".0f"), str(r.errors), "; ".join(r.reasons) or "—")
    (console or stdout_console()).print(table)


def alert_table(events, firing, console: Console | None = None) -> None:
    table = _table("Drift alert transitions", [("window (UTC)", "left"), ("challenger", "left"), ("rule", "left"),
                                               ("state", "left"), ("value", "right"), ("threshold", "right")])
    for e in events:
        table.add_row(e.window_start.strftime("%Y-%m-%d %H:%M"), e.challenger, e.rule, e.state, f"{e.value:.4g}",
                      f"{e.threshold:.4g}")
    console = console or stdout_console()
    console.print(table)
    console.print(f"firing now: {', '.join(f'{e.challenger}/{e.rule}' for e in firing) or 'none'}")
