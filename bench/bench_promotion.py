"""A/A false-promotion rate and power of the promotion engine under continuous checking.

Runs the real `decide()` after every batch (default 50 pairs) for a long run (default 10,000 pairs)
over many seeded runs, and prints:
  - A/A (challenger identical to production, margin 0): share of runs ever promoted (target ≤ 1 %);
  - the same at the non-inferiority boundary (true difference = −margin, margin 0.02);
  - a challenger 5 points worse: share rejected within 2,000 pairs (target ≥ 95 %);
  - baseline: a fixed-n paired t-test at z = 1.96 checked after every batch, the naive method,
    to show what anytime-valid inference buys (ratio against it).

    python bench/bench_promotion.py [--runs 1000] [--pairs 10000] [--batch 50]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from analytics.simulation import _pairs, simulate
from schemas.settings import Settings


def naive_false_positive_rate(runs: int, pairs: int, batch: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        d = _pairs(rng, pairs, 0.0)
        sums, squares = np.cumsum(d), np.cumsum(d * d)
        n = np.arange(batch, pairs + 1, batch)
        mean = sums[n - 1] / n
        sd = np.sqrt((squares[n - 1] - n * mean * mean) / (n - 1))
        hits += bool((mean / (sd / np.sqrt(n)) > 1.96).any())  # "challenger better" at any look
    return hits / runs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    s = Settings()
    began = time.perf_counter()
    aa = simulate(s, args.runs, 0.0, args.pairs, args.batch, seed=1)
    boundary = simulate(s.model_copy(update={"promotion_margin": 0.02}), args.runs, -0.02, args.pairs, args.batch, seed=2)
    worse = simulate(s, args.runs, -0.05, 2000, args.batch, seed=3)
    naive = naive_false_positive_rate(args.runs, args.pairs, args.batch, seed=4)
    print(f"checks after every {args.batch} pairs, up to {args.pairs} pairs, {args.runs} runs each "
          f"(alpha {s.promotion_alpha}, tau {s.promotion_msprt_tau}, min samples {s.promotion_min_samples})")
    print(f"A/A false promotions:                      {aa.promote_rate:.2%} ({aa.promoted}/{aa.runs})  target <= 1 %")
    print(f"at the margin (-0.02, margin 0.02):        {boundary.promote_rate:.2%} ({boundary.promoted}/{boundary.runs})")
    print(f"5 points worse rejected within 2,000 pairs: {worse.reject_within_2000:.2%}  target >= 95 %; "
          f"median pairs to reject {worse.median_pairs_to_decision:.0f}")
    print(f"baseline, naive t-test checked every batch: {naive:.2%} 'better' at some look "
          f"(ratio naive / mSPRT false promotions: {naive / max(aa.promote_rate, 1 / aa.runs):.0f}x or more)")
    print(f"{time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    main()
