"""Drift alerts: thresholds and Page-Hinkley change detection, with hysteresis.

Evaluation replays the window series, so the state of every alert is a pure function of the data:
no state to lose, and the same transition found twice is one row (shadow_alerts is a
ReplacingMergeTree keyed by the transition). An alert fires after `alert_fire_after` consecutive bad
windows and clears after `alert_clear_after` good ones: one bad minute pages nobody, a flapping
metric pages once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.drift_cache import DriftCache
from analytics.scope import Scope
from analytics.windows import DriftQuery, DriftRow, drift
from schemas.settings import Settings

__all__ = ["ALERTS_TABLE", "AlertEvent", "PageHinkley", "hysteresis", "alert_transitions", "evaluate_alerts"]

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


def hysteresis(bad: list[bool], fire_after: int, clear_after: int) -> list[str | None]:
    """Per window: 'firing' / 'cleared' where the state changes, None elsewhere."""
    firing, run_bad, run_good, out = False, 0, 0, []
    for b in bad:
        run_bad, run_good = (run_bad + 1, 0) if b else (0, run_good + 1)
        if not firing and run_bad >= fire_after:
            firing = True
            out.append("firing")
        elif firing and run_good >= clear_after:
            firing = False
            out.append("cleared")
        else:
            out.append(None)
    return out


def _rules(s: Settings) -> list[tuple[str, float, Callable[[DriftRow], float | None]]]:
    return [
        ("delta_s", s.alert_max_delta_s, lambda w: w.mean_delta_s),
        ("latency_p95_delta_ms", s.alert_max_p95_latency_delta_ms, lambda w: w.p95_latency_delta_ms),
        ("latency_p95_increase", s.alert_max_p95_latency_increase, lambda w: w.p95_latency_increase),
        ("refusal_rate", s.alert_max_refusal_rate, lambda w: w.refusal_rate),
        ("error_rate", s.alert_max_error_rate, lambda w: w.error_rate),
    ]


def alert_transitions(windows: list[DriftRow], settings: Settings) -> list[AlertEvent]:
    """Transitions of every rule over one challenger's windows (ordered by time)."""
    events: list[AlertEvent] = []
    s = settings
    for rule, threshold, metric in _rules(s):
        values = [metric(w) for w in windows]
        bad = [v is not None and v > threshold for v in values]
        for w, v, state in zip(windows, values, hysteresis(bad, s.alert_fire_after, s.alert_clear_after)):
            if state:
                events.append(AlertEvent(challenger=w.challenger, rule=rule, window_start=w.window_start, state=state,
                                         value=v if v is not None else float("nan"), threshold=threshold,
                                         message=f"{w.challenger}: {rule} {state} at {v if v is None else round(v, 4)} "
                                                 f"(threshold {threshold}) in window {w.window_start:%Y-%m-%d %H:%M}"))
    detector = PageHinkley(s.alert_change_delta, s.alert_change_threshold)
    bad, stats = [], []
    for w in windows:
        alarm, stat = detector.update(w.mean_delta_s) if w.mean_delta_s is not None else (False, 0.0)
        bad.append(alarm)
        stats.append(stat)
    # A change alarm is a single event: fire on it, clear after clear_after quiet windows.
    for w, stat, state in zip(windows, stats, hysteresis(bad, 1, s.alert_clear_after)):
        if state:
            events.append(AlertEvent(challenger=w.challenger, rule="delta_s_change", window_start=w.window_start,
                                     state=state, value=stat, threshold=s.alert_change_threshold,
                                     message=f"{w.challenger}: ΔS level shift (Page-Hinkley {stat:.3f} > "
                                             f"{s.alert_change_threshold}) {state} at {w.window_start:%Y-%m-%d %H:%M}"))
    return events


def evaluate_alerts(client: Client, settings: Settings, scope: Scope, record: bool = True,
                    cache: DriftCache | None = None) -> tuple[list[AlertEvent], list[AlertEvent]]:
    """(every transition in the scope, alerts firing at its end); new transitions are stored.

    A long-running caller passes a DriftCache: each evaluation then queries only the open windows.
    """
    query = DriftQuery(scope=scope, minutes=settings.alert_window_minutes, source="view")
    rows = cache.run(client, query) if cache else drift(client, query)
    by_challenger: dict[str, list[DriftRow]] = {}
    for row in rows:
        by_challenger.setdefault(row.challenger, []).append(row)
    events = [e for windows in by_challenger.values() for e in alert_transitions(windows, settings)]
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
