"""The self-contained HTML report: one file, inline CSS and PNG plots, no script, nothing fetched."""

from __future__ import annotations

from html import escape

from analytics.reports.data import ReportData

__all__ = ["render_html", "calibration_table", "PLOT_TITLES"]

PLOT_TITLES = {
    "similarity": "Similarity and ΔS over time per challenger",
    "latency": "Latency distributions",
    "cost": "Cost",
    "lag": "Pipeline delay and consumer lag",
}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1040px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:13px} table{border-collapse:collapse;font-size:13px;width:100%}
th,td{padding:4px 8px;border-bottom:1px solid #eee;text-align:right} th{background:#f6f6f6}
td:first-child,th:first-child,td.l{text-align:left} figure{margin:12px 0} img{max-width:100%}
.promote{color:#1e8449;font-weight:600}.manual_review{color:#b9770e;font-weight:600}
.reject{color:#c0392b;font-weight:600}.insufficient_data,.stale{color:#666}
"""


def _f(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def _verdict_table(data: ReportData) -> str:
    """Both questions side by side: quality (win rate, interval, judged pairs, length ratio beside it, as
    judges favour longer answers) and equivalence (similarity next to the noise floor)."""
    head = ("challenger", "verdict", "answered", "score", "quality", "win rate [interval]", "judged pairs",
            "judge flips", "length ×", "equivalence", "similarity", "noise floor", "p95 Δlatency ms", "errors",
            "refusals", "cost ×")
    rows = []
    for v in data.verdicts.verdicts:
        e, q, jq = v.evidence, v.quality, v.evidence.quality
        interval = "" if q is None or q.low is None else f" [{q.low:.3f}, {q.high:.3f}]"
        cells = [escape(v.challenger), f'<span class="{escape(v.verdict)}">{escape(v.verdict)}</span>',
                 escape(v.answered), f"{v.score:.1f}",
                 "—" if q is None else escape(f"{q.outcome.replace('_', ' ')} ({v.quality_source})"),
                 "—" if q is None or q.win_rate is None else f"{q.win_rate:.3f}{interval}",
                 str(jq.pairs if jq else 0) + (f" (+{jq.not_judged} not judged)" if jq and jq.not_judged else ""),
                 _f(jq.flip_rate if jq else None, ".1%"), _f(jq.length_ratio if jq else None, ".2f"),
                 escape(v.equivalence.outcome.replace("_", " ")), _f(e.mean_similarity, ".3f"),
                 _f(e.control_similarity, ".3f"), _f(e.p95_latency_delta_ms, "+.0f"), f"{e.error_rate:.1%}",
                 f"{e.refusal_rate:.1%}" if e.refusal_n else "—", _f(e.cost_ratio, ".2f")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td class="l" colspan="{len(head)}">no challenger scored yet</td></tr>')
    header = "".join(f"<th>{h}</th>" for h in head)
    explain = "".join(f"<li><b>{escape(v.challenger)}</b>: {escape(v.explanation[0])}"
                      + "".join(f"<br>worse on {escape(x.dimension)}={escape(x.value)} (win rate {x.win_rate:.2f} "
                                f"over {x.pairs} pairs, Holm across slices)" for x in v.slices if x.flagged)
                      + "</li>" for v in data.verdicts.verdicts if v.explanation)
    return f"<table><tr>{header}</tr>{''.join(rows)}</table><ul>{explain}</ul>"


def _interval(pair: tuple[float, float] | None, pattern: str) -> str:
    return "" if pair is None else f" [{pair[0]:{pattern}}, {pair[1]:{pattern}}]"


def calibration_table(calibrations: list) -> str:
    """Each pairwise judge version against people (analytics/calibration.py): shared with the review page."""
    if not calibrations:
        return '<p class="meta">no pairwise judge verdicts yet: nothing to calibrate</p>'
    head = ("judge version", "pairs rated by both", "accuracy [95% bootstrap]", "Cohen's κ [95% bootstrap]",
            "κ on the random share", "judge flip rate", "counts as evidence")
    rows = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in (
            escape(c.judge_version), str(c.pairs), _f(c.accuracy, ".3f") + _interval(c.accuracy_interval, ".3f"),
            _f(c.kappa, ".3f") + _interval(c.kappa_interval, ".3f"),
            f"{_f(c.random_kappa, '.3f')} ({c.random_pairs} pair{'' if c.random_pairs == 1 else 's'})",
            _f(c.flip_rate, ".1%"),
            ("yes" if c.counts else "<b>no</b>") + f" — {escape(c.status)}")) + "</tr>"
        for c in calibrations)
    return f"<table class=\"calibration\"><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table>"


def _lag_table(data: ReportData) -> str:
    if data.lag is None:
        return f'<p class="meta">consumer lag not read: {escape(data.lag_error or "no Kafka configured")}</p>'
    lag = data.lag
    rows = "".join(f"<tr><td>{escape(p.topic)}</td><td>{p.partition}</td><td>{_f(p.committed_offset, 'd')}</td>"
                   f"<td>{p.end_offset}</td><td>{_f(p.lag, 'd')}</td><td>{_f(p.lag_seconds, '.1f')}</td></tr>"
                   for p in lag.partitions) or '<tr><td class="l" colspan="6">no committed offsets for the group</td></tr>'
    return (f'<p class="meta">group {escape(lag.group)} ({escape(lag.state)}), total lag {lag.total_lag} messages, '
            f"oldest unconsumed {lag.max_lag_seconds:.1f} s, checked {lag.checked_at:%Y-%m-%d %H:%M:%S} UTC</p>"
            "<table><tr><th>topic</th><th>partition</th><th>committed</th><th>end</th><th>lag</th><th>lag s</th></tr>"
            f"{rows}</table>")


def render_html(data: ReportData, plots: dict[str, str]) -> str:
    """Pure: the report page from its data and base64 PNG plots (keys of PLOT_TITLES)."""
    figures = "".join(
        f'<h2>{escape(title)}</h2><figure><img alt="{escape(title)}" src="data:image/png;base64,{plots[key]}"></figure>'
        for key, title in PLOT_TITLES.items() if key in plots)
    recommended = data.verdicts.recommended
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shadow-Optic report: {escape(data.app)}</title>
<style>{_CSS}</style></head><body>
<h1>Shadow-Optic report — app {escape(data.app or '(all)')}</h1>
<p class="meta">generated {data.generated_at:%Y-%m-%d %H:%M:%S} UTC · scorer {escape(data.scorer_version or '—')} ·
{data.window_minutes}-minute windows · control (noise floor): {escape(', '.join(data.control) or 'none')}</p>
<h2>Verdicts</h2>
<p>Recommended (cheapest challenger with a promote verdict): <b>{escape(recommended or 'none')}</b></p>
{_verdict_table(data)}
<h2>Judges against people</h2>
{calibration_table(data.verdicts.calibration)}
{figures}
<h2>Consumer lag</h2>
{_lag_table(data)}
</body></html>
"""
