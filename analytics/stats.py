"""Pure statistics on paired samples (numpy + scipy), the reference the SQL versions are tested against.

Paired t-test, bootstrap CI of the mean difference (10k resamples), win-rate z-test, a Sharpe-style
ratio and the maximum drawdown of a reward series. No services, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

__all__ = ["PairedComparison", "WinRate", "paired_t_test", "bootstrap_mean_ci", "win_rate_z_test",
           "sharpe_ratio", "max_drawdown", "compare_paired", "t_test_from_summary"]


class WinRate(BaseModel):
    wins: int
    losses: int
    ties: int
    rate: float | None  # wins / (wins + losses); ties carry no information about which is better
    z: float | None
    p_value: float | None


class PairedComparison(BaseModel):
    """challenger − production on the same events."""

    n: int
    mean_diff: float | None
    sd_diff: float | None
    t: float | None
    p_value: float | None
    ci_low: float | None  # bootstrap percentile CI of the mean difference
    ci_high: float | None
    resamples: int
    win_rate: WinRate
    sharpe: float | None
    max_drawdown: float | None


def t_test_from_summary(n: int, mean: float, sd: float) -> tuple[float | None, float | None]:
    """One-sample t-test of mean = 0 (the paired t-test on differences): (t, two-sided p)."""
    from scipy import stats

    if n < 2 or not math.isfinite(sd):
        return None, None
    if sd == 0:
        return (math.copysign(math.inf, mean), 0.0) if mean != 0 else (None, None)
    t = mean / (sd / math.sqrt(n))
    return t, float(2 * stats.t.sf(abs(t), n - 1))


def paired_t_test(challenger: Sequence[float], production: Sequence[float]) -> tuple[float | None, float | None]:
    d = np.asarray(challenger, dtype=float) - np.asarray(production, dtype=float)
    if d.size < 2:
        return None, None
    return t_test_from_summary(d.size, float(d.mean()), float(d.std(ddof=1)))


def bootstrap_mean_ci(d: Sequence[float], resamples: int = 10_000, confidence: float = 0.95,
                      seed: int = 0) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the mean; resampled in chunks so 10k × n stays in bounded memory."""
    x = np.asarray(d, dtype=float)
    if x.size < 2:
        return None, None
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def win_rate_z_test(wins: int, losses: int, ties: int = 0) -> WinRate:
    """z-test of wins / (wins + losses) = 0.5 (normal approximation of the sign test)."""
    from scipy import stats

    n = wins + losses
    if n == 0:
        return WinRate(wins=wins, losses=losses, ties=ties, rate=None, z=None, p_value=None)
    z = (wins - n / 2) / math.sqrt(n / 4)
    return WinRate(wins=wins, losses=losses, ties=ties, rate=wins / n, z=z, p_value=float(2 * stats.norm.sf(abs(z))))


def sharpe_ratio(d: Sequence[float]) -> float | None:
    """Mean over standard deviation of the per-event advantage (not annualised: events, not days)."""
    x = np.asarray(d, dtype=float)
    if x.size < 2:
        return None
    sd = float(x.std(ddof=1))
    return None if sd == 0 else float(x.mean()) / sd


def max_drawdown(d: Sequence[float]) -> float | None:
    """Largest fall of the cumulative advantage from its running peak (peak starts at 0), ≥ 0."""
    x = np.asarray(d, dtype=float)
    if x.size == 0:
        return None
    cumulative = np.cumsum(x)
    peak = np.maximum.accumulate(np.maximum(cumulative, 0.0))
    return float((peak - cumulative).max())


def compare_paired(challenger: Sequence[float], production: Sequence[float], resamples: int = 10_000,
                   seed: int = 0) -> PairedComparison:
    c, p = np.asarray(challenger, dtype=float), np.asarray(production, dtype=float)
    d = c - p
    t, p_value = paired_t_test(c, p)
    low, high = bootstrap_mean_ci(d, resamples, seed=seed)
    return PairedComparison(
        n=int(d.size), mean_diff=float(d.mean()) if d.size else None,
        sd_diff=float(d.std(ddof=1)) if d.size > 1 else None, t=t, p_value=p_value, ci_low=low, ci_high=high,
        resamples=resamples, win_rate=win_rate_z_test(int((d > 0).sum()), int((d < 0).sum()), int((d == 0).sum())),
        sharpe=sharpe_ratio(d), max_drawdown=max_drawdown(d),
    )
