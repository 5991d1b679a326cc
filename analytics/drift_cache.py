"""A results cache for drift queries that repeat (dashboards, the API, the alert loop).

A closed window's figures only change when a row lands in it late, so a repeated query recomputes
just the open windows and any window that received rows since the last run (found through the
inserted_at skip index: no scan), and reuses the rest. The same idea as the query-frontend results
cache of Cortex and Thanos, with invalidation from the data instead of a time-to-live.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from clickhouse_connect.driver.client import Client

from analytics.watermarks import SETTLE, VISIBILITY_MARGIN, as_utc
from analytics.windows import DriftQuery, DriftRow, drift
from schemas.clickhouse import SCORES_TABLE

__all__ = ["DriftCache"]


@dataclass(frozen=True)
class _Entry:
    rows: list[DriftRow]
    final_before: datetime  # windows starting earlier than this had ended (+ SETTLE) when computed
    as_of: datetime  # server time when the run that made this entry began


class DriftCache:
    """Thread-safe; one per long-running process. `recomputed_from` tells what the last run queried."""

    def __init__(self, max_entries: int = 64, visibility_margin: timedelta = VISIBILITY_MARGIN) -> None:
        self._margin = visibility_margin
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self.recomputed_from: datetime | None = None  # None: the last run computed every window

    def run(self, client: Client, q: DriftQuery) -> list[DriftRow]:
        key = q.model_dump_json()
        step = q.step_minutes or q.minutes
        now, final_before = client.query(
            "SELECT now64(3, 'UTC'), toStartOfInterval(now('UTC') - toIntervalMinute({back:UInt32}), "
            "toIntervalMinute({step:UInt32})) + toIntervalMinute({step:UInt32})",
            parameters={"back": int(SETTLE.total_seconds() // 60) + q.minutes, "step": step}).result_rows[0]
        with self._lock:
            entry = self._entries.get(key)
        start = None
        if entry is not None:
            start = entry.final_before
            touched = self._first_touched_window(client, q, entry, step)
            if touched is not None:
                start = min(start, touched)
        self.recomputed_from = start
        if start is None:
            rows = drift(client, q)
        else:
            since = max(as_utc(q.scope.since), start) if q.scope.since else start
            tail = q.model_copy(update={"scope": q.scope.model_copy(update={"since": since})})
            # Windows start inside the query's scope (drift), so the tail holds no partial window before `start`.
            rows = [r for r in entry.rows if as_utc(r.window_start) < start] + drift(client, tail)
            rows.sort(key=lambda r: (r.challenger, r.route, r.tenant, r.window_start))
        with self._lock:
            self._entries[key] = _Entry(rows, as_utc(final_before), as_utc(now))
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
        return rows

    def _first_touched_window(self, client: Client, q: DriftQuery, entry: _Entry, step: int) -> datetime | None:
        """Start of the earliest cached window that a row inserted since the cached run falls in."""
        earliest = client.query(
            f"SELECT toStartOfInterval(min(ts_request), toIntervalMinute({{step:UInt32}})), count() "
            f"FROM {SCORES_TABLE} WHERE {q.scope.where()} "
            "AND inserted_at >= {as_of:DateTime64(3, 'UTC')} AND ts_request < {final:DateTime64(3, 'UTC')}",
            parameters={**q.scope.params(), "step": step, "as_of": entry.as_of - self._margin,
                        "final": entry.final_before}).result_rows[0]
        if not earliest[1]:
            return None
        # A row belongs to every window covering it: with sliding windows, some start before its step.
        return as_utc(earliest[0]) - timedelta(minutes=q.minutes - step)
