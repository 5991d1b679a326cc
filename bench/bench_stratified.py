"""Stratified sampling vs a random sample of the same size: calls saved, clusters kept, time.

Run: python bench/bench_stratified.py [--clusters 6] [--scale 50]
Prints ratios against the baseline measured in the same run (a uniform random sample of as many
prompts), on the real prompts of data/ (data/README.md) and on a larger set made of them (--scale copies with
a per-copy suffix, so there are near-duplicates as in real traffic).
"""

from __future__ import annotations

import argparse
import json
import random
import time

from shadow_optic.data_files import data_dir
from stream_agents.stratified import stratified_sample

PAIRS = data_dir() / "paired_responses.jsonl"


def _run(prompts: list[str], clusters: int, seed: int) -> None:
    started = time.perf_counter()
    sample = stratified_sample(prompts, clusters, seed=seed)
    elapsed = time.perf_counter() - started
    kept_clusters = len({sample.labels[i] for i in sample.kept})
    rng = random.Random(seed)
    baseline = [len({sample.labels[i] for i in rng.sample(range(len(prompts)), len(sample.kept))})
                for _ in range(200)]
    baseline_mean = sum(baseline) / len(baseline)
    all_kept = sum(b == sample.clusters for b in baseline) / len(baseline)
    print(f"n={len(prompts):>6}  k={sample.clusters:>3}  kept={len(sample.kept):>4}  "
          f"calls saved={sample.reduction:.1%}  clusters kept: stratified {kept_clusters}/{sample.clusters}, "
          f"random same size {baseline_mean:.1f}/{sample.clusters} (keeps all in {all_kept:.0%} of draws; "
          f"ratio {kept_clusters / baseline_mean:.2f}x)  time {elapsed:.2f}s ({elapsed / len(prompts) * 1e6:.0f} µs/prompt)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=6)
    parser.add_argument("--scale", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    prompts = [json.loads(line)["prompt"] for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    _run(prompts, args.clusters, args.seed)
    big = [f"{p} (request {i})" for i in range(args.scale) for p in prompts]
    _run(big, max(args.clusters, len(big) // 700), args.seed)


if __name__ == "__main__":
    main()
