"""Anytime-valid inference for the primary metric: the mixture SPRT (mSPRT) and its confidence sequence.

Johari, Pekelis, Walsh (2017), "Always valid inference": with a normal mixing distribution N(θ0, τ²)
over the mean of i.i.d. observations of variance σ², the likelihood ratio

    Λn = sqrt(σ² / (σ² + nτ²)) · exp( n²τ² (x̄n − θ0)² / (2σ²(σ² + nτ²)) )

is a martingale under H0: μ = θ0, so P(∃n: Λn ≥ 1/α) ≤ α (Ville). Inverting it gives a confidence
sequence that holds at every n at once: looking after every batch does not inflate the error the way
a fixed-n t-test checked repeatedly does. σ² is the running sample variance (plug-in), so a minimum
sample count guards the start; the A/A simulation (bench/bench_promotion.py) checks the error rate.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel

__all__ = ["SequentialResult", "msprt_log_lr", "confidence_sequence", "sequential_test", "samples_needed"]

MIN_N = 30  # below this the plug-in variance is too rough to lean on

Outcome = Literal["better", "worse", "undecided"]


class SequentialResult(BaseModel):
    n: int
    mean: float | None
    sd: float | None
    cs_low: float | None
    cs_high: float | None
    alpha: float
    margin: float
    outcome: Outcome  # better: μ > −margin shown; worse: μ < −margin shown
    p_value: float  # always-valid p-value of H0: μ = −margin, min(1, 1/Λ)
    samples_needed: int | None  # more pairs until the sequence decides, if the mean and sd stay as now


def msprt_log_lr(n: int, mean: float, var: float, theta0: float, tau: float) -> float:
    if n <= 0 or var <= 0:
        return 0.0
    s = var + n * tau * tau
    return 0.5 * math.log(var / s) + (n * n * tau * tau * (mean - theta0) ** 2) / (2 * var * s)


def _half_width(n: int, var: float, tau: float, alpha: float) -> float:
    s = var + n * tau * tau
    return math.sqrt(2 * var * s / (n * n * tau * tau) * (math.log(1 / alpha) + 0.5 * math.log(s / var)))


def confidence_sequence(n: int, mean: float, var: float, tau: float, alpha: float) -> tuple[float, float]:
    if n < MIN_N:
        return -math.inf, math.inf
    if var <= 0:
        return mean, mean
    h = _half_width(n, var, tau, alpha)
    return mean - h, mean + h


def samples_needed(n: int, mean: float, var: float, tau: float, alpha: float, margin: float,
                   limit: int = 10_000_000) -> int | None:
    """Smallest extra count after which the sequence would exclude −margin, if mean and var stay put."""
    gap = abs(mean + margin)
    if gap == 0 or var <= 0:
        return None
    if n >= MIN_N and _half_width(n, var, tau, alpha) < gap:
        return 0
    lo, hi = max(n, MIN_N), max(n, MIN_N)
    while _half_width(hi, var, tau, alpha) >= gap:  # the half-width shrinks like sqrt(log n / n)
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    while lo < hi:
        mid = (lo + hi) // 2
        if _half_width(mid, var, tau, alpha) < gap:
            hi = mid
        else:
            lo = mid + 1
    return hi - n


def sequential_test(n: int, mean: float | None, sd: float | None, alpha: float, tau: float,
                    margin: float = 0.0) -> SequentialResult:
    """Test the paired mean difference (challenger − reference) against −margin, valid at any n."""
    if n < 2 or mean is None or sd is None or not math.isfinite(sd):
        return SequentialResult(n=n, mean=mean, sd=sd, cs_low=None, cs_high=None, alpha=alpha, margin=margin,
                                outcome="undecided", p_value=1.0, samples_needed=None)
    var = sd * sd
    low, high = confidence_sequence(n, mean, var, tau, alpha)
    outcome: Outcome = "undecided"
    if low > -margin:
        outcome = "better"
    elif high < -margin:
        outcome = "worse"
    p = 1.0 if n < MIN_N else min(1.0, math.exp(-msprt_log_lr(n, mean, var, -margin, tau))) if var > 0 else 0.0
    needed = 0 if outcome != "undecided" else samples_needed(n, mean, var, tau, alpha, margin)
    return SequentialResult(n=n, mean=mean, sd=sd, cs_low=None if math.isinf(low) else low,
                            cs_high=None if math.isinf(high) else high, alpha=alpha, margin=margin,
                            outcome=outcome, p_value=p, samples_needed=needed)
