"""Drift alerts: thresholds and Page-Hinkley change detection, with hysteresis.

Evaluation replays the window series, so the state of every alert is a pure function of the data:
no state to lose, and the same transition found twice is one row (shadow_alerts is a
ReplacingMergeTree keyed by the transition). An alert fires after `alert_fire_after` consecutive bad
windows and clears after `alert_clear_after` good ones: one bad minute pages nobody, a flapping
metric pages once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import Scope
from analytics.windows import DriftQuery, DriftRow, drift_columns
from schemas.settings import Settings

__all__ = ["ALERTS_TABLE", "AlertEvent", "PageHinkley", "transitions", "hysteresis", "alert_transitions",
           "evaluate_alerts"]

ALERTS_TABLE = "shadow_alerts"


class AlertEvent(BaseModel):
    challenger: str
    dimension: str = "*"
    rule: str
    window_start: datetime
    state: str  # firing | cleared
    value: float
    threshold: float
    message: str


class PageHinkley:
    """Detects an upward shift of the mean (e.g. ΔS rising): alarm when m_t − min m > λ, then resets."""

    def __init__(self, delta: float, threshold: float) -> None:
        self.delta, self.threshold = delta, threshold
        self._reset()

    def _reset(self) -> None:
        self.n, self.mean, self.cumulative, self.minimum = 0, 0.0, 0.0, 0.0

    def update(self, x: float) -> tuple[bool, float]:
        self.n += 1
        self.mean += (x - self.mean) / self.n
        self.cumulative += x - self.mean - self.delta
        self.minimum = min(self.minimum, self.cumulative)
        statistic = self.cumulative - self.minimum
        if statistic > self.threshold:
            self._reset()
            return True, statistic
        return False, statistic


def _run_lengths(flags: np.ndarray) -> np.ndarray:
    """Per position, how many consecutive True end there (0 where False)."""
    at = np.arange(len(flags))
    last_false = np.maximum.accumulate(np.where(flags, -1, at))
    return np.where(flags, at - last_false, 0)


def transitions(bad: Sequence[bool], fire_after: int, clear_after: int) -> list[tuple[int, str]]:
    """(position, 'firing' | 'cleared') where the alert state changes: it fires where a run of bad
    windows reaches `fire_after` and clears where a run of good ones reaches `clear_after`.

    Vectorized (a week of 5-minute windows is thousands per challenger): only the positions where a
    run reaches its length can change the state, so the state machine walks those alone.
    """
    flags = np.asarray(bad, dtype=bool)
    candidates = {False: np.flatnonzero(_run_lengths(flags) == fire_after),
                  True: np.flatnonzero(_run_lengths(~flags) == clear_after)}
    out: list[tuple[int, str]] = []
    firing, position = False, -1
    while True:
        options = candidates[firing]
        k = int(np.searchsorted(options, position, side="right"))
        if k == len(options):
            return out
        position, firing = int(options[k]), not firing
        out.append((position, "firing" if firing else "cleared"))


def hysteresis(bad: Sequence[bool], fire_after: int, clear_after: int) -> list[str | None]:
    """Per window: 'firing' / 'cleared' where the state changes, None elsewhere."""
    out: list[str | None] = [None] * len(bad)
    for position, state in transitions(bad, fire_after, clear_after):
        out[position] = state
    return out


# (rule, the setting holding its threshold, the drift figure it checks)
_RULES = [
    ("delta_s", "alert_max_delta_s", "mean_delta_s"),
    ("latency_p95_delta_ms", "alert_max_p95_latency_delta_ms", "p95_latency_delta_ms"),
    ("latency_p95_increase", "alert_max_p95_latency_increase", "p95_latency_increase"),
    ("refusal_rate", "alert_max_refusal_rate", "refusal_rate"),
    ("error_rate", "alert_max_error_rate", "error_rate"),
]
_SERIES_FIELDS = list(dict.fromkeys(["challenger", "window_start", *(figure for _rule, _setting, figure in _RULES)]))


def _figures(values: Sequence[float | None]) -> np.ndarray:
    return np.array(values, dtype=float)  # None (no data in the window) becomes nan: never over a threshold


def alert_transitions(windows: list[DriftRow], settings: Settings) -> list[AlertEvent]:
    """Transitions of every rule over one challenger's windows (ordered by time)."""
    return _series_transitions(_as_columns(windows), settings)


def _as_columns(windows: list[DriftRow]) -> dict[str, list]:
    return {name: [getattr(w, name) for w in windows] for name in _SERIES_FIELDS}


def _series_transitions(series: Mapping[str, Sequence], settings: Settings) -> list[AlertEvent]:
    """alert_transitions over one challenger's windows given as columns (DriftRow field -> values)."""
    s = settings
    challenger, starts = series["challenger"], series["window_start"]
    events: list[AlertEvent] = []
    for rule, setting, figure in _RULES:
        threshold = getattr(s, setting)
        values = _figures(series[figure])
        for at, state in transitions(values > threshold, s.alert_fire_after, s.alert_clear_after):
            v = float(values[at])
            events.append(AlertEvent(challenger=challenger[at], rule=rule, window_start=starts[at], state=state,
                                     value=v, threshold=threshold,
                                     message=f"{challenger[at]}: {rule} {state} at "
                                             f"{None if np.isnan(v) else round(v, 4)} (threshold {threshold}) "
                                             f"in window {starts[at]:%Y-%m-%d %H:%M}"))
    detector = PageHinkley(s.alert_change_delta, s.alert_change_threshold)
    bad, stats = [], []
    for x in _figures(series["mean_delta_s"]).tolist():
        alarm, stat = detector.update(x) if x == x else (False, 0.0)  # x != x: nan, a window without data
        bad.append(alarm)
        stats.append(stat)
    # A change alarm is a single event: fire on it, clear after clear_after quiet windows.
    for at, state in transitions(bad, 1, s.alert_clear_after):
        events.append(AlertEvent(challenger=challenger[at], rule="delta_s_change", window_start=starts[at],
                                 state=state, value=stats[at], threshold=s.alert_change_threshold,
                                 message=f"{challenger[at]}: ΔS level shift (Page-Hinkley {stats[at]:.3f} > "
                                         f"{s.alert_change_threshold}) {state} at {starts[at]:%Y-%m-%d %H:%M}"))
    return events


def _by_challenger(columns: Mapping[str, Sequence]) -> list[dict[str, Sequence]]:
    """Split columns ordered by challenger into one series per challenger."""
    names = columns["challenger"]
    edges = [0] + [i for i in range(1, len(names)) if names[i] != names[i - 1]] + [len(names)]
    return [{name: columns[name][lo:hi] for name in _SERIES_FIELDS} for lo, hi in zip(edges, edges[1:]) if hi > lo]


def evaluate_alerts(client: Client, settings: Settings, scope: Scope,
                    record: bool = True) -> tuple[list[AlertEvent], list[AlertEvent]]:
    """(every transition in the scope, alerts firing at its end); new transitions are stored.

    Reads the windows as columns, not through a results cache: closed windows come from stored
    figures, and building a DriftRow per cached window cost more than the query saved (measured).
    """
    query = DriftQuery(scope=scope, minutes=settings.alert_window_minutes, source="view")
    columns = drift_columns(client, query, _SERIES_FIELDS)
    events = [e for series in _by_challenger(columns) for e in _series_transitions(series, settings)]
    events.sort(key=lambda e: (e.window_start, e.challenger, e.rule))
    last: dict[tuple[str, str], AlertEvent] = {}
    for e in events:
        last[(e.challenger, e.rule)] = e
    firing = [e for e in last.values() if e.state == "firing"]
    if record and events:
        client.insert(ALERTS_TABLE, [[scope.app, e.challenger, e.dimension, e.rule, e.window_start, e.state, e.value,
                                      e.threshold, e.message] for e in events],
                      column_names=["app", "challenger", "dimension", "rule", "window_start", "state", "value",
                                    "threshold", "message"])
    return events, firing
