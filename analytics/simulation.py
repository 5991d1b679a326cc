"""A/A and power simulations of the equivalence question, checked after every batch like a live deployment.

Each run streams paired similarities (challenger vs the control, per event) and calls the real
`decide()` after every batch with all the other gates met and no quality signal, stopping at the
first promote ("within noise": a drop-in replacement) or manual review ("different"). The quality
question's own simulation is bench/bench_quality.py.
Used by bench/bench_promotion.py (long runs) and a fast seeded unit test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from pydantic import BaseModel

from analytics.promotion import ChallengerEvidence, decide
from schemas.settings import Settings

__all__ = ["SimulationResult", "simulate"]


class SimulationResult(BaseModel):
    runs: int
    shift: float
    max_pairs: int
    batch: int
    promoted: int
    different: int  # told apart from production's own variation (never "worse": no quality signal)
    undecided: int
    promote_rate: float
    different_rate: float
    different_within_2000: float
    median_pairs_to_decision: float | None


def _pairs(rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    """d = sim(challenger) − sim(control) on the same events; a shared per-event difficulty pairs them."""
    difficulty = rng.normal(0, 0.08, n)
    control = np.clip(rng.beta(8, 2, n) + difficulty, 0, 1)
    challenger = np.clip(rng.beta(8, 2, n) + difficulty + shift, 0, 1)
    return challenger - control


def simulate(settings: Settings, runs: int, shift: float, max_pairs: int = 10_000, batch: int = 50,
             seed: int = 0) -> SimulationResult:
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(hours=settings.promotion_diurnal_hours + 1)
    promoted = different = within = 0
    stops: list[int] = []
    for _ in range(runs):
        d = _pairs(rng, max_pairs, shift)
        sums, squares = np.cumsum(d), np.cumsum(d * d)
        for n in range(batch, max_pairs + 1, batch):
            mean = sums[n - 1] / n
            var = max(0.0, (squares[n - 1] - n * mean * mean) / (n - 1))
            evidence = ChallengerEvidence(
                challenger="sim", rows=n, ok=n, mean_similarity=0.8 + mean, control_similarity=0.8,
                has_control=True, refusal_n=n, production_cost_usd=1.0, challenger_cost_usd=0.5,
                p95_latency_delta_ms=0.0, first_ts=start, last_ts=end, paired_n=n, paired_mean=float(mean),
                paired_sd=float(var ** 0.5))
            verdict = decide(evidence, settings)
            if verdict.verdict == "reject":
                raise AssertionError(f"similarity alone rejected a challenger: {verdict.explanation[0]}")
            told_apart = verdict.equivalence.outcome == "different"
            if verdict.verdict == "promote" or told_apart:
                promoted += verdict.verdict == "promote"
                different += told_apart
                within += told_apart and n <= 2000
                stops.append(n)
                break
    return SimulationResult(runs=runs, shift=shift, max_pairs=max_pairs, batch=batch, promoted=promoted,
                            different=different, undecided=runs - promoted - different, promote_rate=promoted / runs,
                            different_rate=different / runs, different_within_2000=within / runs,
                            median_pairs_to_decision=float(np.median(stops)) if stops else None)
