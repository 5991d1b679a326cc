import numpy as np
import pytest
from scipy import stats

from analytics.stats import bootstrap_mean_ci, compare_paired, max_drawdown, paired_t_test, sharpe_ratio, win_rate_z_test


@pytest.fixture
def pairs():
    rng = np.random.default_rng(3)
    p = rng.normal(0.6, 0.2, 500)
    return p + rng.normal(0.02, 0.1, 500), p


def test_paired_t_test_equals_scipy(pairs):
    c, p = pairs
    t, pv = paired_t_test(c, p)
    ref = stats.ttest_rel(c, p)
    assert t == pytest.approx(ref.statistic, abs=1e-9) and pv == pytest.approx(ref.pvalue, abs=1e-12)


def test_bootstrap_ci_agrees_with_scipy_percentile_bootstrap(pairs):
    d = pairs[0] - pairs[1]
    low, high = bootstrap_mean_ci(d, 10_000, seed=1)
    ref = stats.bootstrap((d,), np.mean, n_resamples=10_000, method="percentile", random_state=2).confidence_interval
    # Two independent Monte Carlo runs: equal within their resampling noise, not to 1e-6.
    assert low == pytest.approx(ref.low, abs=2e-3) and high == pytest.approx(ref.high, abs=2e-3)
    assert low < d.mean() < high


def test_win_rate_z_test_matches_normal_approximation():
    w = win_rate_z_test(60, 40, 7)
    z = (60 - 50) / np.sqrt(25)
    assert w.rate == 0.6 and w.z == pytest.approx(z) and w.p_value == pytest.approx(2 * stats.norm.sf(z))


def test_sharpe_and_drawdown():
    d = np.array([1.0, -2.0, 0.5, -1.0, 3.0])
    assert sharpe_ratio(d) == pytest.approx(d.mean() / d.std(ddof=1))
    # cumulative 1, -1, -0.5, -1.5, 1.5: peak 1 then lowest -1.5 -> drawdown 2.5
    assert max_drawdown(d) == pytest.approx(2.5)
    assert max_drawdown(np.array([-1.0, -1.0])) == pytest.approx(2.0)  # the peak starts at 0


def test_compare_paired_bundles_everything(pairs):
    result = compare_paired(*pairs, resamples=2000)
    assert result.n == 500 and result.ci_low < result.mean_diff < result.ci_high
    assert result.win_rate.wins + result.win_rate.losses + result.win_rate.ties == 500
