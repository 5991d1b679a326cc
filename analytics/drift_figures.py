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

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from analytics.watermarks import (DRIFT_FIGURES_MARK, REFRESH_EVERY, SETTLE, as_utc, hour_floor,
                                  ranges_to_refresh, read_marks, server_now, write_watermark)
from schemas.clickhouse.figures import FIGURES

__all__ = ["FIGURES_TABLE", "FIGURE_WINDOWS", "ROLLUP_TIERS", "refresh_drift_figures", "figures_marks",
           "figures_apply", "closed_windows", "ClosedWindows", "rollup_tier"]

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
    watermark, target = marks.watermark, hour_floor((now or began) - SETTLE)
    ranges = ranges_to_refresh(
        client, marks, target,
        "SELECT DISTINCT toStartOfDay(bucket) FROM shadow_scores_rollup WHERE bucket_minutes = 60 "
        "AND route = '*' AND tenant = '*' AND bucket >= {lo:DateTime('UTC')} AND bucket < {hi:DateTime('UTC')} ORDER BY 1")
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


def figures_apply(minutes: int, step: int, since: datetime | None) -> bool:
    """Whether windows of `minutes` sliding by `step` start on a grid whose windows are stored."""
    grid = FIGURE_WINDOWS.get(minutes)
    if grid is None or step % grid or minutes % step:
        return False
    # Only open hours asked for (the results cache's tail): no figures can exist, skip looking.
    return since is None or as_utc(since) < hour_floor(datetime.now(UTC) - SETTLE)


@dataclass(frozen=True)
class ClosedWindows:
    """How a drift query splits into stored closed windows and an open part merged from states."""
    stored: str  # SELECT keys, window_start, figures of the stored windows it can use
    open_buckets: str  # WHERE term: the rollup buckets the open part still merges
    open_windows: str  # HAVING term: the windows the open part answers
    params: dict


def closed_windows(minutes: int, step: int, marks: tuple[datetime, list[datetime]], split: str, keys: str,
                   where: str, until: bool) -> ClosedWindows:
    """The stored windows a query of `minutes`-long windows sliding by `step` can use, given the
    figures' watermark and dirty hours (`marks`): those that end by the watermark (and by the query's
    end, when it has one: `until`) and overlap no dirty hour. Every other window (reaching past the
    watermark or the query's end, so partial as without figures, or overlapping a dirty hour) is the
    open part's. `split`, `keys` and `where` are the query's split, group keys and row filter."""
    watermark, dirty = marks
    ends_by = "least({fig_watermark:DateTime('UTC')}, {until:DateTime64(3, 'UTC')})" if until else \
        "{fig_watermark:DateTime('UTC')}"
    stored = (f"SELECT {keys}, bucket AS window_start, {', '.join(FIGURES)}\n"
              f"FROM {FIGURES_TABLE} FINAL\n"
              f"WHERE bucket_minutes = {minutes} AND {split} AND {where} "
              f"AND phase IN ({', '.join(map(str, range(0, minutes, step)))}) "
              f"AND bucket + toIntervalMinute({minutes}) <= {ends_by}"
              + (f" AND NOT {_overlaps_dirty('bucket', minutes)}" if dirty else ""))
    buckets, params = _open_buckets(minutes, step, dirty, until)
    end = f"window_start + toIntervalMinute({minutes})"
    partial = [f"{end} > {{fig_watermark:DateTime('UTC')}}"]
    if until:
        partial.append(f"{end} > {{until:DateTime64(3, 'UTC')}}")
    if dirty:
        partial.append(_overlaps_dirty("window_start", minutes))
    return ClosedWindows(stored, f"({buckets})", f"({' OR '.join(partial)})",
                         {"fig_watermark": watermark, "fig_dirty": dirty, **params})


def _overlaps_dirty(start: str, minutes: int) -> str:
    """Whether the window starting at column `start` overlaps a dirty hour."""
    return (f"arrayExists(h -> {start} > h - toIntervalMinute({minutes}) AND {start} < h + toIntervalHour(1), "
            "{fig_dirty:Array(DateTime('UTC'))})")


def _open_buckets(minutes: int, step: int, dirty: list[datetime], until: bool) -> tuple[str, dict]:
    """(WHERE term, parameters): the buckets of windows that are not read from stored figures.

    A window starting at s covers buckets [s, s + minutes), and starts on the step grid; the watermark
    and dirty hours are whole hours, the query's end may be any bucket bound. So such windows need the
    buckets from the watermark - reach (reach = minutes - step), after the query's end - minutes, and
    around dirty hours. Explicit ranges, so the primary key can use them.
    """
    reach = minutes - step
    terms = ["bucket >= {fig_watermark:DateTime('UTC')}" + (f" - toIntervalMinute({reach})" if reach else "")]
    if until:
        terms.append(f"bucket > {{until:DateTime64(3, 'UTC')}} - toIntervalMinute({minutes})")
    params: dict[str, datetime] = {}
    spans: list[list[datetime]] = []
    for hour in sorted(dirty):
        if spans and spans[-1][1] >= hour:
            spans[-1][1] = hour + timedelta(hours=1)
        else:
            spans.append([hour, hour + timedelta(hours=1)])
    for i, (lo, hi) in enumerate(spans):
        params[f"fig_lo_{i}"], params[f"fig_hi_{i}"] = lo - timedelta(minutes=reach), hi + timedelta(minutes=reach)
        terms.append(f"(bucket >= {{fig_lo_{i}:DateTime('UTC')}} AND bucket < {{fig_hi_{i}:DateTime('UTC')}})")
    return " OR ".join(terms), params
