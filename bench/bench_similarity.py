"""Benchmark the lexical similarity scorer against two naive baselines.

Prints, on sts_dev.jsonl: Spearman vs the human scores and pairs/s on one core
(CPU time, best of several passes, all measured in this run) for
lexical_similarity, bag-of-words cosine and char-trigram cosine; then, on
paired_responses.jsonl, mean similarity production vs challenger and refusal
counts. Data: the repository's ``data/`` (``shadow_optic.data_files.data_dir()``).

    python bench/bench_similarity.py
"""

from __future__ import annotations

import json
import math
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scipy.stats import spearmanr  # noqa: E402

from shadow_optic.data_files import data_dir  # noqa: E402
from stream_agents.scoring import (  # noqa: E402
    SIMILARITY_VERSION,
    is_refusal,
    lexical_similarity,
)

_WORD = re.compile(r"\w+")
PASSES = 5


def _cos(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def bow_cosine(a: str, b: str) -> float:
    """Baseline: bag-of-words (lowercased \\w+ tokens) count cosine."""
    return _cos(Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower())))


def _trigrams(s: str) -> Counter[str]:
    s = s.lower()
    return Counter([s[i : i + 3] for i in range(len(s) - 2)])


def trigram_cosine(a: str, b: str) -> float:
    """Baseline: char-trigram count cosine on the lowercased text."""
    return _cos(_trigrams(a), _trigrams(b))


def ours(a: str, b: str) -> float:
    return lexical_similarity(a, b).value


def pairs_per_s(fn: Callable[[str, str], float], pairs: list[tuple[str, str]]) -> float:
    # process_time + best of N: the cores are shared, wall time is noisy
    best = math.inf
    for _ in range(PASSES):
        t0 = time.process_time()
        for a, b in pairs:
            fn(a, b)
        best = min(best, time.process_time() - t0)
    return len(pairs) / best


def load(name: str) -> list[dict]:
    with open(data_dir() / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def main() -> int:
    sts = load("sts_dev.jsonl")
    pairs = [(r["s1"], r["s2"]) for r in sts]
    gold = [r["score"] for r in sts]
    methods: dict[str, Callable[[str, str], float]] = {
        f"lexical_similarity ({SIMILARITY_VERSION})": ours,
        "baseline bag-of-words cosine": bow_cosine,
        "baseline char-trigram cosine": trigram_cosine,
    }
    print(f"STS-B dev: {len(pairs)} pairs; pairs/s = one core, CPU time, best of {PASSES}")
    rho: dict[str, float] = {}
    rate: dict[str, float] = {}
    for name, fn in methods.items():
        rho[name] = float(spearmanr([fn(a, b) for a, b in pairs], gold)[0])
        rate[name] = pairs_per_s(fn, pairs)
        print(f"  {name:38s} spearman {rho[name]:.4f}   {rate[name]:>9,.0f} pairs/s")
    our = next(iter(methods))
    for name in list(methods)[1:]:
        print(
            f"  ours / {name[9:]:28s} spearman x{rho[our] / rho[name]:.3f}   "
            f"speed x{rate[our] / rate[name]:.2f}"
        )

    rows = load("paired_responses.jsonl")
    t0 = time.process_time()
    scores = [lexical_similarity(r["production_response"], r["challenger_response"]) for r in rows]
    dt = time.process_time() - t0
    print(f"\npaired_responses: {len(rows)} pairs (long answers), {len(rows) / dt:,.0f} pairs/s")
    print(f"  mean similarity production vs challenger: {statistics.mean(s.value for s in scores):.4f}")
    for comp in scores[0].components:
        print(f"    component {comp:8s} mean {statistics.mean(s.components[comp] for s in scores):.4f}")
    by_pref: dict[str, list[float]] = {}
    for r, s in zip(rows, scores):
        by_pref.setdefault(r["rating"]["preferred"], []).append(s.value)
    for pref, vals in sorted(by_pref.items()):
        print(f"    judge preferred {pref:11s} n={len(vals):3d} mean similarity {statistics.mean(vals):.4f}")
    for side in ("production", "challenger"):
        n = sum(is_refusal(r[f"{side}_response"]) for r in rows)
        print(f"  refusals {side:11s}: {n} / {len(rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
