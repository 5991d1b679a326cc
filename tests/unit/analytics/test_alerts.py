"""Alert transitions: the vectorized state machine against a plain one, and rules over drift rows."""

from datetime import datetime, timedelta

import numpy as np
import pytest

from analytics.alerts import alert_transitions, transitions
from analytics.windows import DriftRow
from schemas.settings import Settings


def reference(bad: list[bool], fire_after: int, clear_after: int) -> list[tuple[int, str]]:
    """The alert state machine written out window by window."""
    firing, run_bad, run_good, out = False, 0, 0, []
    for at, b in enumerate(bad):
        run_bad, run_good = (run_bad + 1, 0) if b else (0, run_good + 1)
        if not firing and run_bad >= fire_after:
            firing = True
            out.append((at, "firing"))
        elif firing and run_good >= clear_after:
            firing = False
            out.append((at, "cleared"))
    return out


@pytest.mark.parametrize("fire_after,clear_after", [(1, 1), (2, 3), (3, 2), (5, 5)])
def test_transitions_match_the_window_by_window_state_machine(fire_after, clear_after):
    rng = np.random.default_rng(fire_after * 10 + clear_after)
    for p_bad in (0.1, 0.4, 0.7):
        bad = (rng.random(2_000) < p_bad).tolist()
        assert transitions(bad, fire_after, clear_after) == reference(bad, fire_after, clear_after)


def test_no_windows_and_all_good_give_no_transition():
    assert transitions([], 2, 3) == []
    assert transitions([False] * 50, 1, 1) == []


def window(at: datetime, refusal_rate: float | None, mean_delta_s: float | None = 0.1) -> DriftRow:
    fields = {name: None for name, info in DriftRow.model_fields.items() if info.annotation == float | None}
    return DriftRow(**{**fields, "challenger": "c", "window_start": at, "window_end": at + timedelta(minutes=5),
                       "rows": 10, "ok": 10, "errors": 0, "error_rate": 0.0, "flips": 0, "production_cost_usd": 0.0,
                       "challenger_cost_usd": 0.0, "cost_delta_usd": 0.0, "challenger_tokens": 0,
                       "refusal_rate": refusal_rate, "mean_delta_s": mean_delta_s})


def test_refusal_alert_fires_after_two_bad_windows_and_clears_after_three_good_ones():
    start = datetime(2025, 1, 1)
    rates = [0.0, 0.2, 0.0, 0.2, 0.2, None, 0.0, 0.0, 0.0, 0.0]  # None: a window without refusal data
    rows = [window(start + timedelta(minutes=5 * i), r) for i, r in enumerate(rates)]
    events = [e for e in alert_transitions(rows, Settings(alert_fire_after=2, alert_clear_after=3))
              if e.rule == "refusal_rate"]
    assert [(e.state, e.window_start) for e in events] == [("firing", rows[4].window_start),
                                                           ("cleared", rows[7].window_start)]
    assert events[0].value == 0.2 and "refusal_rate firing at 0.2" in events[0].message


def test_a_level_shift_of_delta_s_raises_one_change_alert():
    start = datetime(2025, 1, 1)
    levels = [0.2] * 40 + [0.5] * 10
    rows = [window(start + timedelta(minutes=5 * i), 0.0, d) for i, d in enumerate(levels)]
    changes = [e for e in alert_transitions(rows, Settings()) if e.rule == "delta_s_change"]
    assert [e.state for e in changes][:1] == ["firing"] and changes[0].window_start >= rows[40].window_start
