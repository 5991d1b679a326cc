"""Finalized drift figures of closed windows, so a drift query reads numbers, not states.

A drift window costs a merge of its t-digest states on every query (~25-40 µs per state: most of a
day-or-week query, and 4 s for a week of 1-hour windows sliding by 15 minutes). Once the hours a
window covers are closed, its figures (the same -Merge expressions drift uses) are stored in
shadow_drift_figures (migration 003), unsplit and by route, keyed by window length, phase
(minutes past the length's grid) and start:

  5-minute windows, starting every 5 minutes (tumbling 5 min);
  1-hour windows, starting every 5 minutes (tumbling hours read phase 0; hours sliding by 5, 10, 15,
  20 or 30 minutes read the phases of their step).

Drift then reads them, and merges states only for windows that reach into the open tail, cross the
query's edges, or overlap an hour that got rows after its refresh (dirty, analytics/watermarks.py).
Reads refresh first when the watermark is behind, like the evidence rollup.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from analytics.watermarks import (DRIFT_FIGURES_MARK, REFRESH_EVERY, SETTLE, hour_floor, read_marks, server_now,
                                  write_watermark)
from schemas.clickhouse.figures import FIGURES

__all__ = ["FIGURES_TABLE", "FIGURE_WINDOWS", "ROLLUP_TIERS", "refresh_drift_figures",
           "figures_marks", "rollup_tier"]

FIGURES_TABLE = "shadow_drift_figures"
# Window minutes -> the grid (minutes) its stored windows start on. Splits: none and by route (by
# tenant stays on states: thousands of tenants would make this table as big as the states).
FIGURE_WINDOWS = {5: 5, 60: 5}
ROLLUP_TIERS = (60, 5, 1)  # bucket minutes of shadow_scores_rollup (002), coarsest first
_KEYS = "app, scorer_version, route, tenant, challenger"
def rollup_tier(minutes: int) -> int | None:
    """The coarsest rollup tier whose buckets each fall in one `minutes`-aligned interval."""
    return next((tier for tier in ROLLUP_TIERS if minutes % tier == 0), None)


def _windows_sql(minutes: int, grid: int) -> list[str]:
    """INSERTs storing the figures of `minutes`-long windows on a `grid`, for window starts in
    [{lo}, {hi}) that end by {target}. Windows that are one rollup bucket come from that bucket, as a
    tumbling query merges them; the others from the tier of the grid, as a sliding query does."""
    figures = ",\n    ".join(f"{figure.merge} AS {name}" for name, figure in FIGURES.items())
    passes = [(rollup_tier(minutes), f"toStartOfInterval(bucket, toIntervalMinute({minutes}))", "")]
    if grid != minutes:
        passes.append((rollup_tier(grid), f"arrayJoin(arrayMap(k -> toStartOfInterval(bucket, toIntervalMinute({grid}))"
                                          f" - toIntervalMinute(k * {grid}), range({minutes // grid})))",
                       f" AND toUnixTimestamp(window_start) % {minutes * 60} != 0"))
    return [
        f"INSERT INTO {FIGURES_TABLE} (app, scorer_version, route, tenant, challenger, bucket, bucket_minutes, "
        f"{', '.join(FIGURES)}, computed_at)\n"
        f"SELECT {_KEYS}, toDateTime({start}, 'UTC') AS window_start, {minutes},\n    {figures},\n"
        "    {began:DateTime64(3, 'UTC')}\n"
        f"FROM shadow_scores_rollup\n"
        f"WHERE bucket_minutes = {tier} AND tenant = '*' "
        f"AND bucket >= {{lo:DateTime('UTC')}} - toIntervalMinute({minutes - grid}) "
        f"AND bucket < least({{hi:DateTime('UTC')}} + toIntervalMinute({minutes - grid}), {{target:DateTime('UTC')}}) "
        f"AND window_start >= {{lo:DateTime('UTC')}} - toIntervalMinute({minutes - grid}) "
        f"AND window_start < {{hi:DateTime('UTC')}} "
        f"AND window_start + toIntervalMinute({minutes}) <= {{target:DateTime('UTC')}}{extra}\n"
        f"GROUP BY {_KEYS}, window_start"
        for tier, start, extra in passes]


def refresh_drift_figures(client: Client, now: datetime | None = None) -> int:
    """Finalize every closed hour not finalized yet and every dirty one; returns how many ranges ran.

    Idempotent and safe from several processes at once: a recomputed window replaces the older row.
    """
    began = server_now(client)
    marks = read_marks(client, DRIFT_FIGURES_MARK)
    watermark, dirty = marks.watermark, marks.dirty
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
    # A window is stored once the hours it covers are closed: those that end after `target` wait for a
    # later refresh, whose range starts early enough (lo - (minutes - grid)) to pick them up.
    closed = max(target, watermark)
    statements = [sql for minutes, grid in FIGURE_WINDOWS.items() for sql in _windows_sql(minutes, grid)]
    for lo, hi in ranges:
        for sql in statements:
            client.command(sql, parameters={"lo": lo, "hi": hi, "target": closed, "began": began})
    if ranges:
        # Reads use FINAL, which has nothing to merge in a partition of one part: ~25 ms less per drift
        # read at 10 M rows, for ~0.1-0.5 s here once an hour (partitions already one part are skipped).
        client.command(f"OPTIMIZE TABLE {FIGURES_TABLE} FINAL", settings={"optimize_skip_merged_partitions": 1})
    write_watermark(client, DRIFT_FIGURES_MARK, closed, began)
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
