import math

import numpy as np
import pytest

from analytics.sequential import confidence_sequence, msprt_log_lr, samples_needed, sequential_test
from analytics.simulation import simulate
from schemas.settings import Settings


def test_confidence_sequence_inverts_the_msprt():
    n, mean, var, tau, alpha = 500, 0.03, 0.04, 0.05, 0.01
    low, high = confidence_sequence(n, mean, var, tau, alpha)
    # At the interval's edge the mixture likelihood ratio equals 1/alpha.
    assert msprt_log_lr(n, mean, var, low, tau) == pytest.approx(math.log(1 / alpha), rel=1e-9)
    assert msprt_log_lr(n, mean, var, high, tau) == pytest.approx(math.log(1 / alpha), rel=1e-9)
    assert msprt_log_lr(n, mean, var, mean, tau) < math.log(1 / alpha)


def test_outcomes_and_samples_needed():
    assert sequential_test(2000, -0.05, 0.2, 0.01, 0.05).outcome == "worse"
    assert sequential_test(2000, 0.05, 0.2, 0.01, 0.05).outcome == "better"
    undecided = sequential_test(100, -0.01, 0.3, 0.01, 0.05)
    assert undecided.outcome == "undecided" and undecided.samples_needed > 0
    # After that many more samples (same mean and sd) it decides.
    n = 100 + undecided.samples_needed
    assert sequential_test(n, -0.01, 0.3, 0.01, 0.05).outcome == "worse"
    assert sequential_test(n - 1, -0.01, 0.3, 0.01, 0.05).outcome == "undecided"
    assert samples_needed(100, 0.0, 0.09, 0.05, 0.01, 0.0) is None  # no effect: never


def test_sequential_coverage_under_continuous_monitoring():
    """P(the sequence ever excludes the true mean over 4,000 looks) stays under alpha."""
    rng = np.random.default_rng(11)
    misses, runs = 0, 300
    for _ in range(runs):
        x = rng.normal(0.1, 0.3, 4000)
        sums, squares = np.cumsum(x), np.cumsum(x * x)
        for n in range(30, 4001, 10):
            mean = sums[n - 1] / n
            var = (squares[n - 1] - n * mean * mean) / (n - 1)
            low, high = confidence_sequence(n, mean, var, 0.05, 0.05)
            if not low <= 0.1 <= high:
                misses += 1
                break
    assert misses / runs <= 0.05


def test_a_a_false_promotions_and_power_with_the_real_engine():
    """Fast seeded version of bench/bench_promotion.py: checked after every batch of 50 pairs.

    Equivalence only (no judge): production asked again is almost never called "different", a
    challenger at the tolerance almost never "within noise", one well past it is told apart, and
    similarity alone never rejects (simulate raises if it did)."""
    settings = Settings()
    aa = simulate(settings, runs=200, shift=0.0, max_pairs=4000, batch=50, seed=5)
    assert aa.different_rate <= 0.01 and aa.promote_rate >= 0.95
    edge = simulate(settings, runs=200, shift=-settings.promotion_noise_floor_tolerance, max_pairs=4000, batch=50, seed=7)
    assert edge.promote_rate <= 0.01
    far = simulate(settings, runs=100, shift=-0.10, max_pairs=2000, batch=50, seed=6)
    assert far.different_within_2000 >= 0.95 and far.promoted == 0
