"""Which challengers of a shared budget get an event: Thompson sampling on evidence, or a fixed split.

Evidence per challenger is (passes, fails): scored answers at or above the pass similarity. The
question for each challenger is "is its pass rate above the target?". Thompson sampling draws a
pass rate from each Beta(1 + passes, 1 + fails) posterior and calls the challengers whose draw lands
closest to the target: a challenger whose posterior sits far from the target (decided, either way)
rarely wins a draw, one with little or ambiguous evidence often does. Pure functions, seeded RNG.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Evidence", "thompson_pick", "fixed_pick", "undecided_share"]


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True)

    passes: int = Field(0, ge=0)
    fails: int = Field(0, ge=0)


def thompson_pick(names: Sequence[str], evidence: Mapping[str, Evidence], target: float, k: int,
                  rng: random.Random) -> list[str]:
    """The k challengers whose sampled pass rate is closest to `target` (the undecided ones)."""
    if k >= len(names):
        return list(names)
    draws = []
    for name in names:
        e = evidence.get(name, Evidence())
        theta = rng.betavariate(1 + e.passes, 1 + e.fails)
        draws.append((abs(theta - target), rng.random(), name))
    return [name for _, _, name in sorted(draws)[:k]]


def fixed_pick(names: Sequence[str], shares: Mapping[str, float], k: int, rng: random.Random) -> list[str]:
    """k distinct challengers drawn with probability proportional to their configured share."""
    pool = [(name, max(0.0, shares.get(name, 1.0))) for name in names]
    picked: list[str] = []
    while pool and len(picked) < k:
        total = sum(weight for _, weight in pool)
        if total <= 0:
            break
        point, acc = rng.uniform(0, total), 0.0
        for index, (name, weight) in enumerate(pool):
            acc += weight
            if point <= acc or index == len(pool) - 1:
                picked.append(name)
                pool.pop(index)
                break
    return picked


def undecided_share(names: Sequence[str], evidence: Mapping[str, Evidence], target: float, rng: random.Random,
                    rounds: int = 2000) -> dict[str, float]:
    """How often each challenger wins a Thompson draw with k=1: the share of spend it would get."""
    wins = dict.fromkeys(names, 0)
    for _ in range(rounds):
        wins[thompson_pick(names, evidence, target, 1, rng)[0]] += 1
    return {name: count / rounds for name, count in wins.items()}
