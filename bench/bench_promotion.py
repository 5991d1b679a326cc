"""The equivalence question under continuous checking: "within noise" vs "different", no judge.

Runs the real `decide()` after every batch (default 50 pairs) for a long run (default 10,000 pairs)
over many seeded runs, and prints:
  - A/A (production asked again): share of runs ever called "different" (target ≤ 1 %);
  - at the tolerance (true gap = −tolerance): share ever called "within noise" (target ≤ 1 %);
  - a challenger 10 points further from production: told apart within 2,000 pairs (target ≥ 95 %);
  - baseline: a fixed-n paired t-test at z = 1.96 checked after every batch, the naive method,
    to show what anytime-valid inference buys (ratio against it).
The quality question (the judge's win rate) has its own bench: bench/bench_quality.py.

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
    tol = s.promotion_noise_floor_tolerance
    aa = simulate(s, args.runs, 0.0, args.pairs, args.batch, seed=1)
    boundary = simulate(s, args.runs, -tol, args.pairs, args.batch, seed=2)
    far = simulate(s, args.runs, -0.10, 2000, args.batch, seed=3)
    naive = naive_false_positive_rate(args.runs, args.pairs, args.batch, seed=4)
    print(f"checks after every {args.batch} pairs, up to {args.pairs} pairs, {args.runs} runs each "
          f"(alpha {s.promotion_alpha}, tau {s.promotion_msprt_tau}, min samples {s.promotion_min_samples})")
    print(f"A/A called different:                       {aa.different_rate:.2%} ({aa.different}/{aa.runs})  target <= 1 %")
    print(f"at the tolerance ({-tol:+.2f}) called within noise: {boundary.promote_rate:.2%} "
          f"({boundary.promoted}/{boundary.runs})  target <= 1 %")
    print(f"10 points further told apart within 2,000: {far.different_within_2000:.2%}  target >= 95 %; "
          f"median pairs {far.median_pairs_to_decision:.0f}")
    print(f"baseline, naive t-test checked every batch: {naive:.2%} 'better' at some look "
          f"(ratio naive / mSPRT false calls: {naive / max(aa.different_rate, 1 / aa.runs):.0f}x or more)")
    print(f"{time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    main()
