"""The report's plots: matplotlib on the Agg backend (no display), returned as base64 PNG for inlining."""

from __future__ import annotations

import base64
import io
from collections import defaultdict

from analytics.reports.data import ReportData

__all__ = ["all_plots", "similarity_plot", "latency_plot", "cost_plot", "lag_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: the report is made on servers and in CI, never on a screen
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> str:  # noqa: ANN001 - a matplotlib Figure
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=96)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _empty(ax, text: str) -> None:  # noqa: ANN001
    import textwrap

    # Wrapped and small: a long reason (an error message) must not push the axes out of the figure.
    ax.text(0.5, 0.5, textwrap.fill(text[:300], 40), ha="center", va="center", transform=ax.transAxes,
            color="#777", fontsize=8, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def similarity_plot(data: ReportData) -> str:
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    by: dict[str, list] = defaultdict(list)
    for row in data.series:
        if row.mean_similarity is not None:
            by[row.challenger].append(row)
    for name, rows in sorted(by.items()):
        style = "--" if name in data.control else "-"
        label = f"{name} (control: noise floor)" if name in data.control else name
        xs = [r.window_start for r in rows]
        top.plot(xs, [r.mean_similarity for r in rows], style, marker=".", label=label)
        bottom.plot(xs, [r.mean_delta_s for r in rows], style, marker=".", label=label)
    if not by:
        _empty(top, "no scored similarity yet")
        _empty(bottom, "")
    else:
        top.set_ylabel("mean similarity")
        bottom.set_ylabel("mean ΔS = 1 − similarity")
        bottom.axhline(0.45, color="#c0392b", linewidth=1, linestyle=":", label="ΔS limit 0.45")
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)  # outside: never hides a line
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
        fig.autofmt_xdate()
    top.set_title(f"Similarity and ΔS per challenger, {data.window_minutes}-minute windows (UTC)")
    return _png(fig)


def latency_plot(data: ReportData) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    series = [(name, values) for name, values in data.latency_samples.items() if values]
    if not series:
        _empty(ax, "no latencies recorded")
    else:
        ax.boxplot([v for _, v in series], tick_labels=[n for n, _ in series], showfliers=False,
                   orientation="horizontal")
        ax.set_xlabel("latency ms (box: quartiles, whiskers: 1.5 IQR, outliers hidden)")
        ax.grid(axis="x", alpha=0.3)
    ax.set_title("Latency distributions: production and each challenger")
    return _png(fig)


def cost_plot(data: ReportData) -> str:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if not data.cost_summary:
        _empty(left, "no costs recorded")
        _empty(right, "")
    else:
        names = [c.challenger for c in data.cost_summary]
        xs = range(len(names))
        left.bar([x - 0.2 for x in xs], [c.production_cost_usd for c in data.cost_summary], 0.4, label="production")
        left.bar([x + 0.2 for x in xs], [c.challenger_cost_usd for c in data.cost_summary], 0.4, label="challenger")
        left.set_xticks(list(xs), names, rotation=20, ha="right")
        left.set_ylabel("USD over the same requests")
        left.legend(fontsize=8)
        left.set_title("Total cost")
        by: dict[str, list] = defaultdict(list)
        for line in data.cost_hourly:
            by[line.challenger].append(line)
        for name, lines in sorted(by.items()):
            right.plot([ln.period for ln in lines], [ln.challenger_cost_usd for ln in lines], marker=".", label=name)
        right.set_ylabel("challenger USD per hour")
        right.set_title("Challenger spend per hour")
        if by:
            right.legend(fontsize=8)
        right.grid(alpha=0.3)
        fig.autofmt_xdate()
    return _png(fig)


def lag_plot(data: ReportData) -> str:
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 2]})
    points = [p for p in data.delay if p.p50_s is not None]
    if points:
        xs = [p.window_start for p in points]
        left.plot(xs, [p.p50_s for p in points], marker=".", label="p50")
        left.plot(xs, [p.p95_s for p in points], marker=".", label="p95")
        left.set_ylabel("seconds from request to score")
        left.legend(fontsize=8)
        left.grid(alpha=0.3)
        for label in left.get_xticklabels():
            label.set_rotation(30)
            label.set_ha("right")
    else:
        _empty(left, "no scored rows")
    left.set_title("Pipeline delay (ts_scored − ts_request)")
    if data.lag is not None and data.lag.partitions:
        names = [f"{p.topic.rsplit('.', 1)[-1]}[{p.partition}]" for p in data.lag.partitions]
        right.barh(names, [p.lag or 0 for p in data.lag.partitions], color="#8e44ad")
        right.set_xlabel("messages behind")
        right.set_title(f"Consumer lag now: {data.lag.group}", fontsize=9)
    else:
        _empty(right, data.lag_error or "no committed offsets for the group")
        right.set_title("Consumer lag now", fontsize=9)
    return _png(fig)


def all_plots(data: ReportData) -> dict[str, str]:
    return {"similarity": similarity_plot(data), "latency": latency_plot(data), "cost": cost_plot(data),
            "lag": lag_plot(data)}
