"""The promotion engine: gates from Settings, an anytime-valid primary test, a 0–100 score and a verdict.

Pure: it judges `ChallengerEvidence` (gathered from ClickHouse by analytics/evidence.py) and never
touches a service, so the A/A simulation drives exactly this code.

Score (100 points): five primary criteria — primary metric vs the noise floor, anytime-valid (25),
similarity vs the control (15), refusal rate (10), error rate (10), p95 latency delta (10) — and three
secondary — cost (15), judge scores (10), outcomes (5). Bands: ≥ promote_at → promote, ≥ review_at →
manual review, else reject. A verdict of promote also needs every hard gate passed, including the
sequential test: without it the score is capped just under the promote band.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from analytics.sequential import SequentialResult, sequential_test
from analytics.stats import PairedComparison
from schemas.settings import Settings

__all__ = ["ChallengerEvidence", "Gate", "CanaryStep", "Verdict", "VerdictKind", "decide", "cheapest_passing"]

VerdictKind = Literal["promote", "manual_review", "reject", "insufficient_data", "stale"]


class ChallengerEvidence(BaseModel):
    """Exact (deduplicated) figures of one challenger over the decision window."""

    challenger: str
    challenger_model: str = ""
    scorer_version: str = ""
    rows: int = 0
    ok: int = 0
    errors: int = 0
    mean_similarity: float | None = None
    control_similarity: float | None = None  # the noise floor: production asked again
    has_control: bool = False
    refusal_n: int = 0
    refusals: int = 0
    flips: int = 0
    p95_latency_delta_ms: float | None = None
    p95_challenger_latency_ms: float | None = None
    p95_production_latency_ms: float | None = None
    production_cost_usd: float = 0.0
    challenger_cost_usd: float = 0.0
    judge_n: int = 0
    judge_quality: float | None = None
    judge_faithfulness: float | None = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    # Primary metric: per-event d = similarity − reference (the control's similarity on the same event,
    # or a fixed reference without a control), summarised exactly in SQL.
    paired_n: int = 0
    paired_mean: float | None = None
    paired_sd: float | None = None
    reference: str = "control"
    outcome: PairedComparison | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.rows if self.rows else 0.0

    @property
    def refusal_rate(self) -> float:
        return self.refusals / self.refusal_n if self.refusal_n else 0.0

    @property
    def span_hours(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return (self.last_ts - self.first_ts).total_seconds() / 3600

    @property
    def cost_ratio(self) -> float | None:
        return self.challenger_cost_usd / self.production_cost_usd if self.production_cost_usd > 0 else None

    @property
    def cost_per_request(self) -> float:
        return self.challenger_cost_usd / self.ok if self.ok else float("inf")


class Gate(BaseModel):
    name: str
    passed: bool | None  # None: not applicable (e.g. no judge scores)
    value: float | None
    threshold: float | None
    points: float
    max_points: float
    detail: str


class CanaryStep(BaseModel):
    percent: float
    minutes: int
    rollback_if: str


class Verdict(BaseModel):
    challenger: str
    verdict: VerdictKind
    score: float
    confidence: float = Field(description="1 − always-valid p-value of the decision the primary test supports")
    samples_needed: int | None
    gates: list[Gate]
    sequential: SequentialResult
    canary_plan: list[CanaryStep] = Field(default_factory=list)
    explanation: list[str]
    evidence: ChallengerEvidence


def _linear(value: float, good: float, bad: float) -> float:
    """1 at or better than `good`, 0 at or past `bad`, linear between."""
    if bad == good:
        return 1.0 if value <= good else 0.0
    return max(0.0, min(1.0, (bad - value) / (bad - good)))


def _gates(e: ChallengerEvidence, seq: SequentialResult, s: Settings) -> list[Gate]:
    gates: list[Gate] = []

    primary_points = {"better": 25.0, "undecided": 10.0 if (seq.mean or 0) >= -s.promotion_margin else 5.0,
                      "worse": 0.0}[seq.outcome]
    gates.append(Gate(
        name="primary_metric", passed={"better": True, "worse": False}.get(seq.outcome), value=seq.mean,
        threshold=-s.promotion_margin, points=primary_points, max_points=25,
        detail=(f"similarity − {e.reference} similarity per event: mean {_f(seq.mean, '+.4f')}, "
                f"{1 - s.promotion_alpha:.0%} anytime-valid interval [{_f(seq.cs_low, '+.4f')}, "
                f"{_f(seq.cs_high, '+.4f')}] over {seq.n} pairs vs −margin {-s.promotion_margin:+.3f}: {seq.outcome}")))

    if e.mean_similarity is None:
        gates.append(Gate(name="similarity_vs_noise_floor", passed=False, value=None, threshold=None, points=0,
                          max_points=15, detail="no scored similarity"))
    else:
        floor = e.control_similarity if e.control_similarity is not None else s.readiness_min_similarity
        gap = floor - e.mean_similarity
        delta_s = 1 - e.mean_similarity
        tol = s.promotion_noise_floor_tolerance
        ok = gap <= tol and delta_s <= s.promotion_max_delta_s
        gates.append(Gate(
            name="similarity_vs_noise_floor", passed=ok, value=e.mean_similarity, threshold=floor - tol,
            points=15 * _linear(gap, tol, tol * 3 + 1e-9) if delta_s <= s.promotion_max_delta_s else 0.0,
            max_points=15,
            detail=(f"mean similarity {e.mean_similarity:.3f} vs noise floor {floor:.3f} "
                    f"({'control' if e.control_similarity is not None else 'no control: fixed reference'}), "
                    f"allowed gap {tol:.3f}; mean ΔS {delta_s:.3f} (max {s.promotion_max_delta_s})")))

    rr, max_rr = e.refusal_rate, s.promotion_max_refusal_rate
    gates.append(Gate(name="refusal_rate", passed=rr <= max_rr, value=rr, threshold=max_rr,
                      points=10 * _linear(rr, max_rr, max_rr * 3 + 1e-9), max_points=10,
                      detail=f"{e.refusals}/{e.refusal_n} refusals ({rr:.2%}, max {max_rr:.2%}); {e.flips} flips"))
    er, max_er = e.error_rate, s.promotion_max_error_rate
    gates.append(Gate(name="error_rate", passed=er <= max_er, value=er, threshold=max_er,
                      points=10 * _linear(er, max_er, max_er * 3 + 1e-9), max_points=10,
                      detail=f"{e.errors}/{e.rows} errors or timeouts ({er:.2%}, max {max_er:.2%})"))
    lat, max_lat = e.p95_latency_delta_ms, s.promotion_max_p95_latency_delta_ms
    gates.append(Gate(
        name="latency_p95_delta", passed=None if lat is None else lat <= max_lat, value=lat, threshold=max_lat,
        points=5.0 if lat is None else 10 * _linear(lat, max_lat, max_lat * 2 + abs(max_lat) + 1e-9), max_points=10,
        detail=f"p95 latency delta {_f(lat, '+.1f')} ms (max {max_lat:+.0f} ms)"))

    ratio, max_ratio = e.cost_ratio, s.promotion_max_cost_ratio
    if ratio is None:
        gates.append(Gate(name="cost", passed=None, value=None, threshold=max_ratio, points=7.5, max_points=15,
                          detail="no production cost recorded (no price table?)"))
    else:
        gates.append(Gate(name="cost", passed=ratio <= max_ratio, value=ratio, threshold=max_ratio,
                          points=0.0 if ratio > max_ratio else 7.5 + 7.5 * max(0.0, min(1.0, 1 - ratio)),
                          max_points=15,
                          detail=f"challenger costs {ratio:.2f}× production (max {max_ratio:.2f}×), "
                                 f"${e.challenger_cost_usd:.4f} vs ${e.production_cost_usd:.4f}"))

    if e.judge_n == 0:
        gates.append(Gate(name="judge", passed=None, value=None, threshold=None, points=5.0, max_points=10,
                          detail="no judge scores (neutral)"))
    else:
        checks = [(e.judge_faithfulness, s.promotion_min_faithfulness), (e.judge_quality, s.promotion_min_quality)]
        present = [(v, t) for v, t in checks if v is not None]
        ok = all(v >= t for v, t in present)
        points = 10 * sum(min(1.0, v / t) for v, t in present) / len(present)
        gates.append(Gate(name="judge", passed=ok, value=e.judge_quality, threshold=s.promotion_min_quality,
                          points=points if ok else min(points, 5.0), max_points=10,
                          detail=f"faithfulness {_f(e.judge_faithfulness, '.2f')} (min {s.promotion_min_faithfulness}),"
                                 f" quality {_f(e.judge_quality, '.2f')} (min {s.promotion_min_quality}),"
                                 f" {e.judge_n} judged"))

    o = e.outcome
    if o is None or o.n == 0 or o.ci_low is None:
        gates.append(Gate(name="outcomes", passed=None, value=None, threshold=None, points=2.5, max_points=5,
                          detail="no outcome feedback joined yet (neutral)"))
    else:
        ok = o.ci_low > -s.promotion_margin
        gates.append(Gate(name="outcomes", passed=ok if o.ci_high >= -s.promotion_margin else False,
                          value=o.mean_diff, threshold=-s.promotion_margin,
                          points=5.0 if ok else (2.5 if o.ci_high >= -s.promotion_margin else 0.0), max_points=5,
                          detail=f"reward challenger − production {o.mean_diff:+.4f} over {o.n} events, "
                                 f"bootstrap 95% CI [{o.ci_low:+.4f}, {o.ci_high:+.4f}], p={_f(o.p_value, '.3g')}"))
    return gates


def _f(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def _canary(s: Settings) -> list[CanaryStep]:
    rule = (f"error rate > {s.promotion_max_error_rate:.1%} or refusal rate > {s.promotion_max_refusal_rate:.1%} "
            f"or p95 latency delta > {s.promotion_max_p95_latency_delta_ms:.0f} ms")
    return [CanaryStep(percent=p, minutes=s.promotion_canary_step_minutes if p < 100 else 0, rollback_if=rule)
            for p in s.promotion_canary_steps]


def decide(e: ChallengerEvidence, settings: Settings, stale_reason: str | None = None) -> Verdict:
    s = settings
    seq = sequential_test(e.paired_n, e.paired_mean, e.paired_sd, s.promotion_alpha, s.promotion_msprt_tau,
                          s.promotion_margin)
    gates = _gates(e, seq, s)
    score = round(sum(g.points for g in gates), 1)
    hard_fail = [g for g in gates if g.passed is False and g.name in
                 ("primary_metric", "refusal_rate", "error_rate", "similarity_vs_noise_floor")]
    soft_fail = [g for g in gates if g.passed is False and g not in hard_fail]
    explanation: list[str] = []
    short = []
    if e.rows < s.promotion_min_samples:
        short.append(f"{e.rows} of {s.promotion_min_samples} samples")
    if e.span_hours < s.promotion_diurnal_hours:
        short.append(f"{e.span_hours:.1f} h of {s.promotion_diurnal_hours:.0f} h diurnal coverage")
    needed = seq.samples_needed
    if e.rows < s.promotion_min_samples:
        needed = max(needed or 0, s.promotion_min_samples - e.rows)

    verdict: VerdictKind
    if stale_reason:
        verdict = "stale"
        explanation.append(f"no verdict: {stale_reason}")
    elif seq.outcome == "worse":
        verdict = "reject"  # anytime-valid: safe to act on before the sample and coverage minimums
        explanation.append(f"rejected: the primary metric is shown worse than production by more than the margin "
                           f"(interval [{_f(seq.cs_low, '+.4f')}, {_f(seq.cs_high, '+.4f')}] < {-s.promotion_margin:+.3f})")
    elif short:
        verdict = "insufficient_data"
        explanation.append("not enough evidence yet: " + "; ".join(short))
    elif hard_fail:
        verdict = "reject"
        explanation.append("rejected: failed " + ", ".join(g.name for g in hard_fail))
    else:
        if seq.outcome != "better":
            score = min(score, s.promotion_score_promote - 0.1)  # no auto-promotion without anytime-valid evidence
        if score >= s.promotion_score_promote and not soft_fail:
            verdict = "promote"
            explanation.append(f"promote: score {score:.1f} ≥ {s.promotion_score_promote:.0f} and every gate passed")
        elif score >= s.promotion_score_review:
            verdict = "manual_review"
            why = [g.name for g in soft_fail] + ([] if seq.outcome == "better" else ["primary metric undecided"])
            explanation.append(f"manual review: score {score:.1f}" + (f" ({', '.join(why)})" if why else ""))
        else:
            verdict = "reject"
            explanation.append(f"rejected: score {score:.1f} < {s.promotion_score_review:.0f}")
    explanation += [f"{g.name}: {'pass' if g.passed else 'n/a' if g.passed is None else 'FAIL'} — {g.detail}"
                    for g in gates]
    if seq.outcome == "better":
        confidence = 1 - seq.p_value
    elif seq.outcome == "worse":
        confidence = 1 - seq.p_value
    else:
        confidence = 0.0
    plan = _canary(s) if verdict in ("promote", "manual_review") else []
    return Verdict(challenger=e.challenger, verdict=verdict, score=score, confidence=round(confidence, 6),
                   samples_needed=needed if verdict in ("insufficient_data", "manual_review") else None,
                   gates=gates, sequential=seq, canary_plan=plan, explanation=explanation, evidence=e)


def cheapest_passing(verdicts: list[Verdict]) -> Verdict | None:
    """Among challengers with a promote verdict, the one that costs least per request."""
    passing = [v for v in verdicts if v.verdict == "promote"]
    return min(passing, key=lambda v: (v.evidence.cost_per_request, -v.score)) if passing else None
