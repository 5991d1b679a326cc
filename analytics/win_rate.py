"""The quality question's test: is the challenger's judged win rate at least 0.5 − margin, at any time?

Each judged pair scores the challenger 1 (win), 0.5 (tie, or a verdict that flipped with the order),
0 (loss), or 0.25 / 0.75 when one order tied. The win rate is the mean, a bounded mean, so the
mixture SPRT of analytics/sequential.py applies to d = score − 0.5 with the non-inferiority margin:
its confidence sequence holds at every n at once, so a monitor may look after every judged pair.

    better      the interval lies above 0.5: preferred to production
    not_worse   the interval lies above 0.5 − margin: at least as good, within the margin
    worse       the interval lies below 0.5 − margin: shown worse than production
    undecided   not yet; `pairs_needed` estimates the judged pairs until one of the above
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel

from analytics.sequential import MIN_N, confidence_sequence, msprt_log_lr, samples_needed

__all__ = ["QualityOutcome", "WinRateResult", "win_rate_test", "holm"]

QualityOutcome = Literal["better", "not_worse", "worse", "undecided"]


class WinRateResult(BaseModel):
    pairs: int
    win_rate: float | None
    low: float | None  # anytime-valid interval of the win rate
    high: float | None
    margin: float
    alpha: float
    outcome: QualityOutcome
    p_worse: float  # always-valid p-value of "win rate = 0.5 − margin" (small: the data are far from it)
    pairs_needed: int | None  # more judged pairs until a decision, if the rate and spread stay as now


def win_rate_test(pairs: int, total: float, squares: float, alpha: float, tau: float,
                  margin: float) -> WinRateResult:
    """`total` and `squares`: sums of the per-pair scores and of their squares."""
    if pairs < 2:
        return WinRateResult(pairs=pairs, win_rate=total / pairs if pairs else None, low=None, high=None,
                             margin=margin, alpha=alpha, outcome="undecided", p_worse=1.0,
                             pairs_needed=max(MIN_N - pairs, 0) or None)
    mean = total / pairs
    # Sample variance of the scores; floored so that a run of identical scores is not taken as certainty.
    var = max((squares - total * total / pairs) / (pairs - 1), 1.0 / (4 * pairs))
    d = mean - 0.5
    lo, hi = confidence_sequence(pairs, d, var, tau, alpha)
    outcome: QualityOutcome = "undecided"
    if lo > 0:
        outcome = "better"
    elif lo > -margin:
        outcome = "not_worse"
    elif hi < -margin:
        outcome = "worse"
    p = 1.0 if pairs < MIN_N else min(1.0, math.exp(-msprt_log_lr(pairs, d, var, -margin, tau)))
    needed = None
    if outcome == "undecided":
        needed = samples_needed(pairs, d, var, tau, alpha, margin)
    finite = math.isfinite(lo)
    return WinRateResult(pairs=pairs, win_rate=mean, low=max(0.0, 0.5 + lo) if finite else None,
                         high=min(1.0, 0.5 + hi) if finite else None, margin=margin, alpha=alpha,
                         outcome=outcome, p_worse=p, pairs_needed=needed)


def holm(p_values: list[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected with the family-wise error held at `alpha`."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    for rank, i in enumerate(order):
        if p_values[i] > alpha / (len(p_values) - rank):
            break
        rejected[i] = True
    return rejected
