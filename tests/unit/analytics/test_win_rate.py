"""The anytime-valid non-inferiority test on judged win rates, and Holm across slices."""

import random

from analytics.win_rate import holm, win_rate_test


def _sums(scores):
    return len(scores), sum(scores), sum(s * s for s in scores)


def test_a_clear_winner_is_better_and_a_clear_loser_worse():
    rng = random.Random(1)
    winner = _sums([1.0 if rng.random() < 0.9 else 0.0 for _ in range(400)])
    loser = _sums([1.0 if rng.random() < 0.25 else 0.0 for _ in range(400)])
    assert win_rate_test(*winner, alpha=0.01, tau=0.1, margin=0.05).outcome == "better"
    result = win_rate_test(*loser, alpha=0.01, tau=0.1, margin=0.05)
    assert result.outcome == "worse" and result.high < 0.45 and result.p_worse < 0.01


def test_a_tie_rate_challenger_is_not_worse_once_the_interval_clears_the_margin():
    scores = _sums([0.5] * 300 + [1.0, 0.0] * 350)
    result = win_rate_test(*scores, alpha=0.01, tau=0.1, margin=0.05)
    assert result.outcome == "not_worse" and result.low > 0.45 and result.low < 0.5


def test_undecided_says_how_many_more_pairs():
    scores = _sums([1.0, 0.0] * 20 + [0.5] * 10)
    result = win_rate_test(*scores, alpha=0.01, tau=0.1, margin=0.05)
    assert result.outcome == "undecided" and result.pairs_needed and result.pairs_needed > 0
    more = _sums([1.0, 0.0] * 20 * 40 + [0.5] * 10 * 40)
    assert win_rate_test(*more, alpha=0.01, tau=0.1, margin=0.05).outcome == "not_worse"


def test_no_pairs_is_undecided_not_an_error():
    result = win_rate_test(0, 0.0, 0.0, alpha=0.01, tau=0.1, margin=0.05)
    assert result.outcome == "undecided" and result.win_rate is None


def test_holm_rejects_in_order_and_stops_at_the_first_kept():
    assert holm([0.001, 0.04, 0.02], 0.05) == [True, True, True]
    assert holm([0.001, 0.04, 0.03], 0.05) == [True, False, False]
    assert holm([0.03, 0.03], 0.05) == [False, False]
