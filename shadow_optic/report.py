"""Terminal output of analytics results (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from analytics.drift import DriftWindow

__all__ = ["drift_table", "stdout_console"]


def stdout_console() -> Console:
    """Rich falls back to 80 columns when piped; the drift table needs more to stay readable."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=130)


def _fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def drift_table(windows: list[DriftWindow], minutes: int, console: Console | None = None) -> None:
    table = Table(title=f"Drift per challenger, {minutes}-minute windows (ΔS = 1 − similarity)")
    for column, justify in (("challenger", "left"), ("window start (UTC)", "left"), ("rows", "right"),
                            ("ok", "right"), ("mean sim", "right"), ("mean ΔS", "right"),
                            ("p95 Δlatency ms", "right"), ("errors", "right"), ("Δcost $", "right")):
        table.add_column(column, justify=justify)
    for w in windows:
        table.add_row(w.challenger, w.window_start.strftime("%Y-%m-%d %H:%M"), str(w.rows), str(w.ok),
                      _fmt(w.mean_similarity, ".3f"), _fmt(w.mean_delta_s, ".3f"),
                      _fmt(w.p95_latency_delta_ms, "+.1f"), f"{w.error_rate:.1%}", f"{w.cost_delta_usd:+.4f}")
    (console or stdout_console()).print(table)
