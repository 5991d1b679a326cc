"""Finalized drift figures for closed rollup buckets, so a tumbling drift query reads numbers, not states.

A drift window that is exactly one 5-minute or 1-hour bucket of shadow_scores_rollup (012) costs a
merge of its t-digest states on every query (~25-40 µs per state: most of a day-or-week query).
Once an hour is closed, its buckets' figures (the same -Merge expressions drift uses) are stored in
shadow_drift_figures (013), unsplit and by route; drift then reads them, and merges states only for
the open tail and for hours that got rows after their refresh (dirty, see analytics/watermarks.py).
Reads refresh first when the watermark is behind, like the evidence rollup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from analytics.watermarks import (DRIFT_FIGURES_MARK, REFRESH_EVERY, SETTLE, hour_floor, read_marks, server_now,
                                  write_watermark)

__all__ = ["FIGURES_TABLE", "FIGURE_TIERS", "VIEW_MERGE_EXPR", "refresh_drift_figures", "figures_marks"]

FIGURES_TABLE = "shadow_drift_figures"
FIGURE_TIERS = (5, 60)  # bucket minutes; splits: none and by route (by tenant stays on states)
_KEYS = "app, scorer_version, bucket_minutes, route, tenant, bucket, challenger"
# A window's figures from the -State columns of the views (002, 007, 012): drift merges them for
# open buckets, refresh_drift_figures stores them for closed ones.
VIEW_MERGE_EXPR = {
    "rows": "countMerge(rows)", "ok": "countIfMerge(ok)", "errors": "countIfMerge(errors)",
    "sim_n": "countIfMerge(sim_n)", "sim_sum": "sumIfMerge(sim_sum)", "sim_sq": "sumIfMerge(sim_sq)",
    "sim_q": "quantilesTDigestIfMerge(0.05, 0.5, 0.95)(sim_q)",
    "lat_n": "countIfMerge(lat_n)", "lat_sum": "sumIfMerge(lat_sum)",
    "lat_q": "quantilesTDigestIfMerge(0.5, 0.95, 0.99)(lat_q)",
    "prod_lat_q": "quantilesTDigestMerge(0.5, 0.95, 0.99)(prod_lat_q)",
    "ch_lat_q": "quantilesTDigestIfMerge(0.5, 0.95, 0.99)(ch_lat_q)",
    "refusal_n": "countIfMerge(refusal_n)", "refusals": "countIfMerge(refusals)", "flips": "countIfMerge(flips)",
    "exact_matches": "countIfMerge(exact_matches)", "judge_n": "countIfMerge(judge_n)",
    "judge_sum": "sumIfMerge(judge_sum)", "prod_cost": "sumMerge(prod_cost)", "ch_cost": "sumMerge(ch_cost)",
    "delta_cost": "sumMerge(delta_cost)", "ch_tokens": "sumMerge(ch_tokens)",
}


def refresh_drift_figures(client: Client, now: datetime | None = None) -> int:
    """Finalize every closed hour not finalized yet and every dirty one; returns how many ranges ran.

    Idempotent and safe from several processes at once: a recomputed bucket replaces the older row.
    """
    began = server_now(client)
    watermark, _refreshed_at, dirty = read_marks(client, DRIFT_FIGURES_MARK)
    target = hour_floor((now or began) - SETTLE)
    ranges = [(h, h + timedelta(hours=1)) for h in dirty]
    if target > watermark:
        days = client.query(
            "SELECT DISTINCT toStartOfDay(bucket) FROM shadow_scores_rollup WHERE bucket_minutes = 60 "
            "AND route = '*' AND tenant = '*' AND bucket >= {lo:DateTime('UTC')} AND bucket < {hi:DateTime('UTC')} "
            "ORDER BY 1", parameters={"lo": watermark, "hi": target}).result_rows
        for (day,) in days:
            day = day.replace(tzinfo=UTC)
            ranges.append((max(day, watermark), min(day + timedelta(days=1), target)))
    figures = ",\n    ".join(f"{expr} AS {name}" for name, expr in VIEW_MERGE_EXPR.items())
    for lo, hi in ranges:
        client.command(
            f"INSERT INTO {FIGURES_TABLE} ({_KEYS}, {', '.join(VIEW_MERGE_EXPR)}, computed_at)\n"
            f"SELECT {_KEYS},\n    {figures},\n    {{began:DateTime64(3, 'UTC')}}\n"
            "FROM shadow_scores_rollup\n"
            f"WHERE bucket_minutes IN {FIGURE_TIERS} AND tenant = '*' "
            "AND bucket >= {lo:DateTime('UTC')} AND bucket < {hi:DateTime('UTC')}\n"
            f"GROUP BY {_KEYS}",
            parameters={"lo": lo, "hi": hi, "began": began})
    write_watermark(client, DRIFT_FIGURES_MARK, max(target, watermark), began)
    return len(ranges)


def figures_marks(client: Client, refresh: bool) -> tuple[datetime, list[datetime]]:
    """(figures below this bucket are final, hours among them to read from states instead)."""
    marks = read_marks(client, DRIFT_FIGURES_MARK)
    now = datetime.now(UTC)
    if refresh and (marks.dirty or marks.watermark < hour_floor(now - SETTLE)) and \
            now - marks.refreshed_at >= REFRESH_EVERY:
        refresh_drift_figures(client)
        marks = read_marks(client, DRIFT_FIGURES_MARK)
    return marks.watermark, marks.dirty
