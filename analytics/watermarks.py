"""Bookkeeping shared by the tables that finalize closed hours once (evidence, drift figures).

Each such table has a watermark: hours below it were computed, as of `refreshed_at` (server time
when that refresh began). A row inserted since then into an hour below the watermark makes that
hour *dirty*: readers take it from the live source until the next refresh. Finding dirty hours
reads the last insert per 5 minutes (shadow_scores_inserts_5m, migration 002), not shadow_scores.

The evidence rollup also keeps the open hour's closed 5-minute part (an *open mark*: final below
`open_until`); it is clean while no row has landed in that part since the refresh that wrote it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from clickhouse_connect.driver.client import Client

__all__ = ["WATERMARK_TABLE", "INSERTS_TABLE", "EVIDENCE_MARK", "DRIFT_FIGURES_MARK", "EVIDENCE_OPEN_MARK", "SETTLE",
           "VISIBILITY_MARGIN", "REFRESH_EVERY", "server_now", "Marks", "read_marks", "ranges_to_refresh", "write_watermark", "as_utc",
           "five_minute_floor", "hour_floor", "day_floor", "EPOCH"]

WATERMARK_TABLE = "shadow_watermarks"
INSERTS_TABLE = "shadow_scores_inserts_5m"  # the last insert per 5 minutes of shadow_scores (002)
EVIDENCE_MARK = 0  # the row id of each table's watermark
DRIFT_FIGURES_MARK = 1
EVIDENCE_OPEN_MARK = 2  # the evidence of the open hour is final below this
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# An hour (or a cached drift window) is final once it ended this long ago: rows still in flight
# rarely land in it after that.
SETTLE = timedelta(minutes=5)
# Rows inserted this long before a refresh began count as possibly unseen by it (insert visibility).
VISIBILITY_MARGIN = timedelta(seconds=60)
# A read refreshes first when the watermark is behind or hours are dirty, at most this often.
REFRESH_EVERY = timedelta(seconds=60)


def server_now(client: Client) -> datetime:
    return client.query("SELECT now64(3, 'UTC')").result_rows[0][0].replace(tzinfo=UTC)


class Marks(NamedTuple):
    watermark: datetime  # hours below this are finalized (the epoch when never refreshed)
    refreshed_at: datetime  # server time when the refresh that wrote them began
    dirty: list[datetime]  # finalized hours that got rows (late, or re-sent) after that refresh looked
    # With an open mark: the open hour (the one at the watermark) is final below this and clean; None
    # when it is not (no such rows, rows of an older hour, or rows landed there since).
    open_until: datetime | None = None


def read_marks(client: Client, mark: int, open_mark: int | None = None) -> Marks:
    """The watermark and the dirty hours below it (and the open mark, if asked), in one query over a
    few small tables (the last insert per 5 minutes comes from shadow_scores_inserts_5m)."""
    margin = f"toIntervalSecond({int(VISIBILITY_MARGIN.total_seconds())})"
    # The open mark's parts only when asked: drift reads run this on every query, and ClickHouse plans
    # every expression.
    open_with, open_select, open_inner = ("", "", "") if open_mark is None else (
        f", (SELECT max(watermark) FROM {WATERMARK_TABLE} FINAL WHERE id = {{open:UInt8}}) AS open_mark, "
        f"(SELECT max(refreshed_at) FROM {WATERMARK_TABLE} FINAL WHERE id = {{open:UInt8}}) AS open_refreshed",
        f", open_mark, countIf(open_last >= open_refreshed - {margin}) = 0",
        ", maxIf(last_inserted, bucket >= mark AND bucket < open_mark) AS open_last")
    row = client.query(
        f"WITH (SELECT max(watermark) FROM {WATERMARK_TABLE} FINAL WHERE id = {{id:UInt8}}) AS mark, "
        f"(SELECT max(refreshed_at) FROM {WATERMARK_TABLE} FINAL WHERE id = {{id:UInt8}}) AS refreshed{open_with} "
        "SELECT mark, refreshed, "
        f"arraySort(groupArrayIf(hour, hour < mark AND hour_last >= refreshed - {margin})){open_select} "
        f"FROM (SELECT toStartOfHour(bucket) AS hour, max(last_inserted) AS hour_last{open_inner} "
        f"FROM {INSERTS_TABLE} GROUP BY hour)",
        parameters={"id": mark} if open_mark is None else {"id": mark, "open": open_mark}).result_rows[0]
    marks = Marks(row[0].replace(tzinfo=UTC), row[1].replace(tzinfo=UTC), [h.replace(tzinfo=UTC) for h in row[2]])
    if open_mark is None:
        return marks
    open_until, clean = row[3].replace(tzinfo=UTC), row[4]
    in_open_hour = marks.watermark < open_until < marks.watermark + timedelta(hours=1)
    return marks._replace(open_until=open_until if clean and in_open_hour else None)


def ranges_to_refresh(client: Client, marks: Marks, target: datetime, days_sql: str,
                      settings: dict | None = None) -> list[tuple[datetime, datetime]]:
    """What a refresh up to `target` computes: each dirty hour, then a day at a time (`days_sql`: the
    days with rows in [{lo}, {hi})) from the watermark, so each statement stays small."""
    ranges = [(h, h + timedelta(hours=1)) for h in marks.dirty]
    if target > marks.watermark:
        days = client.query(days_sql, parameters={"lo": marks.watermark, "hi": target}, settings=settings).result_rows
        for (day,) in days:
            day = day.replace(tzinfo=UTC)
            ranges.append((max(day, marks.watermark), min(day + timedelta(days=1), target)))
    return ranges


def write_watermark(client: Client, mark: int, watermark: datetime, refreshed_at: datetime) -> None:
    client.insert(WATERMARK_TABLE, [[mark, watermark, refreshed_at]], column_names=["id", "watermark", "refreshed_at"])


def as_utc(at: datetime) -> datetime:
    """ClickHouse hands back naive UTC datetimes; callers may pass aware ones in any zone."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def five_minute_floor(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 5, second=0, microsecond=0)


def hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def day_floor(at: datetime) -> datetime:
    return at.replace(hour=0, minute=0, second=0, microsecond=0)
