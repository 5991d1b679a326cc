"""The promotion engine: two questions answered separately, gates from Settings, a 0–100 score, a verdict.

Pure: it judges `ChallengerEvidence` (gathered from ClickHouse by analytics/evidence.py and
analytics/judgments.py) and never touches a service, so the simulations drive exactly this code.

- Quality, "is the challenger at least as good?": outcomes (labels, rewards, human ratings) where they
  exist, else the pairwise judge's win rate, each with an anytime-valid non-inferiority test.
  Only this question can call a challenger worse, and only this question can reject it as worse.
- Equivalence, "is it a drop-in replacement?": similarity to production per event next to the
  control's (production asked again: the real noise floor). Further from production than production
  is from itself means *different*, never worse. With no quality signal, a different challenger
  goes to manual review; within noise never overrides a quality verdict.

Score (0–100, over the gates that apply): quality (30), equivalence (10), refusal rate (10), error rate
(10), p95 latency delta (10), cost (15), rubric judge (10, when configured), outcomes (5). Bands: ≥ promote_at → promote, ≥ review_at →
manual review. Every configured gate is in every verdict: one without data says "not evaluated: no
data" and counts half its points; it never passes or disappears silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from analytics.judgments import QualityEvidence
from analytics.sequential import SequentialResult, sequential_test
from analytics.stats import PairedComparison
from analytics.win_rate import WinRateResult, holm, win_rate_test
from schemas.settings import Settings

__all__ = ["ChallengerEvidence", "Gate", "CanaryStep", "Verdict", "VerdictKind", "SliceVerdict", "Equivalence",
           "decide", "cheapest_passing"]

VerdictKind = Literal["promote", "manual_review", "reject", "insufficient_data", "stale"]
Question = Literal["quality", "equivalence", "operations"]
NO_DATA = "not evaluated: no data"


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
    # Classifier / JSON models: label agreement with production, and the control's (its noise floor).
    label_n: int = 0
    label_agree: int = 0
    label_flips: int = 0
    control_label_n: int = 0
    control_label_agree: int = 0
    control_label_flips: int = 0
    p95_latency_delta_ms: float | None = None
    p95_challenger_latency_ms: float | None = None
    p95_production_latency_ms: float | None = None
    production_cost_usd: float = 0.0
    challenger_cost_usd: float = 0.0
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    # Equivalence: per-event d = similarity − reference (the control's similarity on the same event,
    # or a fixed reference without a control), summarised exactly in SQL.
    paired_n: int = 0
    paired_mean: float | None = None
    paired_sd: float | None = None
    reference: str = "control"
    # Quality: the judge's verdicts (analytics/judgments.py) and outcomes joined later.
    quality: QualityEvidence | None = None
    quality_slices: list[QualityEvidence] = Field(default_factory=list)
    outcome: PairedComparison | None = None

    @property
    def label_agreement(self) -> float | None:
        return self.label_agree / self.label_n if self.label_n else None

    @property
    def control_label_agreement(self) -> float | None:
        return self.control_label_agree / self.control_label_n if self.control_label_n else None

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
    question: Question
    passed: bool | None  # None: not decided yet, or not evaluated for want of data (detail says which)
    value: float | None
    threshold: float | None
    points: float
    max_points: float
    detail: str


class CanaryStep(BaseModel):
    percent: float
    minutes: int
    rollback_if: str


class Equivalence(BaseModel):
    """Is it a drop-in replacement? Similarity to production next to the noise floor."""

    outcome: Literal["within_noise", "different", "undecided"]
    similarity: float | None
    noise_floor: float | None
    reference: str
    test: SequentialResult


class SliceVerdict(BaseModel):
    """The quality test on one route or tenant; `flagged`: worse there, after Holm across the slices."""

    dimension: str
    value: str
    pairs: int
    win_rate: float | None
    low: float | None
    high: float | None
    outcome: str
    p_worse: float
    flagged: bool


class Verdict(BaseModel):
    challenger: str
    verdict: VerdictKind
    answered: str = Field(description="which question decided, with what evidence")
    score: float
    confidence: float = Field(description="1 − always-valid p-value of the decision the deciding test supports")
    samples_needed: int | None
    quality: WinRateResult | None
    quality_source: Literal["outcomes", "judge", "none"]
    equivalence: Equivalence
    slices: list[SliceVerdict] = Field(default_factory=list)
    gates: list[Gate]
    canary_plan: list[CanaryStep] = Field(default_factory=list)
    explanation: list[str]
    evidence: ChallengerEvidence

    def summary(self) -> dict[str, object]:
        """The short form the demo's JSON and `verdict --json` lead with."""
        q, e = self.quality, self.evidence
        return {"verdict": self.verdict, "answered": self.answered, "score": self.score,
                "confidence": self.confidence, "primary_metric": _primary_metric(self),
                "win_rate": None if q is None or q.win_rate is None else round(q.win_rate, 4),
                "win_rate_interval": None if q is None or q.low is None else [round(q.low, 4), round(q.high or 0, 4)],
                "quality": None if q is None else q.outcome, "judged_pairs": e.quality.pairs if e.quality else 0,
                "not_judged": e.quality.not_judged if e.quality else 0,
                "judge_flip_rate": None if not e.quality or e.quality.flip_rate is None else round(e.quality.flip_rate, 4),
                "length_ratio": None if not e.quality or e.quality.length_ratio is None else round(e.quality.length_ratio, 3),
                "equivalence": self.equivalence.outcome,
                "similarity": None if e.mean_similarity is None else round(e.mean_similarity, 4),
                "noise_floor": None if e.control_similarity is None else round(e.control_similarity, 4),
                "label_agreement": None if e.label_agreement is None else round(e.label_agreement, 4),
                "control_label_agreement": None if e.control_label_agreement is None
                else round(e.control_label_agreement, 4),
                "label_flips": e.label_flips,
                "cost_ratio": None if e.cost_ratio is None else round(e.cost_ratio, 3),
                "flagged_slices": [f"{s.dimension}={s.value}" for s in self.slices if s.flagged],
                "reason": self.explanation[0]}


def _primary_metric(v: Verdict) -> str:
    if v.quality_source == "outcomes":
        return "outcome reward difference"
    if v.quality_source == "judge":
        return "judge win rate"
    return "similarity vs noise floor"


def _linear(value: float, good: float, bad: float) -> float:
    """1 at or better than `good`, 0 at or past `bad`, linear between."""
    if bad == good:
        return 1.0 if value <= good else 0.0
    return max(0.0, min(1.0, (bad - value) / (bad - good)))


def _f(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def _no_data(name: str, question: Question, max_points: float, threshold: float | None, what: str) -> Gate:
    return Gate(name=name, question=question, passed=None, value=None, threshold=threshold, points=max_points / 2,
                max_points=max_points, detail=f"{NO_DATA} ({what})")


def _outcome_quality(e: ChallengerEvidence, s: Settings) -> WinRateResult | None:
    """Outcomes as a quality test: the paired reward difference's CI against −margin."""
    o = e.outcome
    if o is None or o.n == 0 or o.ci_low is None or o.ci_high is None:
        return None
    outcome = ("better" if o.ci_low > 0 else "not_worse" if o.ci_low > -s.promotion_margin
               else "worse" if o.ci_high < -s.promotion_margin else "undecided")
    return WinRateResult(pairs=o.n, win_rate=o.mean_diff, low=o.ci_low, high=o.ci_high, margin=s.promotion_margin,
                         alpha=0.05, outcome=outcome, p_worse=o.p_value if o.p_value is not None else 1.0,
                         pairs_needed=None)


def _quality_gate(q: WinRateResult | None, source: str, e: ChallengerEvidence, s: Settings) -> Gate:
    judge_on = bool(s.judge_base_url) or e.quality is not None
    if q is None:
        if judge_on:
            return _no_data("quality", "quality", 30, 0.5 - s.quality_margin, "no judged pairs yet")
        # Not configured, so not in the score: the score is over the gates that apply.
        return Gate(name="quality", question="quality", passed=None, value=None, threshold=None, points=0,
                    max_points=0, detail="no quality signal configured (no judge, no outcomes): equivalence only")
    points = {"better": 30.0, "not_worse": 24.0, "worse": 0.0,
              "undecided": 12.0 if (q.win_rate or 0) >= 0.5 - q.margin else 6.0}[q.outcome]
    if source == "outcomes":
        detail = (f"outcomes: reward challenger − production {_f(q.win_rate, '+.4f')} over {q.pairs} events, "
                  f"95% CI [{_f(q.low, '+.4f')}, {_f(q.high, '+.4f')}] vs −margin {-q.margin:+.3f}: {q.outcome}")
    else:
        jq = e.quality
        assert jq is not None
        detail = (f"judge win rate {_f(q.win_rate, '.3f')} over {q.pairs} judged pairs, "
                  f"{1 - q.alpha:.0%} anytime-valid interval [{_f(q.low, '.3f')}, {_f(q.high, '.3f')}] "
                  f"vs {0.5 - q.margin:.2f}: {q.outcome.replace('_', ' ')}; "
                  f"judge flipped with the order on {_f(jq.flip_rate, '.1%')} (counted as ties); "
                  f"{jq.not_judged} not judged; median answer length {_f(jq.length_ratio, '.2f')}× production's"
                  + (f"; decision in about {q.pairs_needed} more judged pairs" if q.pairs_needed else ""))
    return Gate(name="quality", question="quality", passed={"better": True, "not_worse": True, "worse": False}.get(
        q.outcome), value=q.win_rate, threshold=0.5 - q.margin, points=points, max_points=30, detail=detail)


def _equivalence(e: ChallengerEvidence, s: Settings) -> tuple[Equivalence, Gate]:
    tol = s.promotion_noise_floor_tolerance
    seq = sequential_test(e.paired_n, e.paired_mean, e.paired_sd, s.promotion_alpha, s.promotion_msprt_tau, tol)
    outcome = {"better": "within_noise", "worse": "different"}.get(seq.outcome, "undecided")
    floor = e.control_similarity if e.control_similarity is not None else s.readiness_min_similarity
    equivalence = Equivalence(outcome=outcome, similarity=e.mean_similarity, noise_floor=e.control_similarity,
                              reference=e.reference, test=seq)  # type: ignore[arg-type]
    if e.mean_similarity is None:
        return equivalence, _no_data("equivalence", "equivalence", 10, None, "no scored similarity")
    points = {"within_noise": 10.0, "undecided": 5.0, "different": 3.0}[outcome]
    words = {"within_noise": "within production's own variation: a drop-in replacement",
             "different": "differs from production beyond its own variation (different is not worse)",
             "undecided": "not yet told apart from production's own variation"}[outcome]
    detail = (f"similarity to production {e.mean_similarity:.3f} vs noise floor {floor:.3f} "
              f"({'production asked again' if e.control_similarity is not None else 'no control: fixed reference'}); "
              f"per-event gap {_f(seq.mean, '+.4f')}, interval [{_f(seq.cs_low, '+.4f')}, {_f(seq.cs_high, '+.4f')}] "
              f"vs −{tol:.2f}: {words}")
    if e.label_n:  # a classifier or JSON model: agreement and flips next to the control's
        detail += (f"; labels agree with production on {e.label_agreement:.1%} of {e.label_n} "
                   f"(control {_f(e.control_label_agreement, '.1%')}), {e.label_flips} flips "
                   f"(control {e.control_label_flips})")
    # passed is never False: being different is information for the rollout, not a failure.
    return equivalence, Gate(name="equivalence", question="equivalence", passed=True if outcome == "within_noise"
                             else None, value=e.mean_similarity, threshold=floor - tol, points=points,
                             max_points=10, detail=detail)


def _rate_gate(name: str, count: int, total: int, limit: float, what: str, extra: str = "") -> Gate:
    """A share that must stay at or below `limit`; full points at the limit's good side, none at 3×."""
    if total == 0:
        return _no_data(name, "operations", 10, limit, f"no {what}")
    rate = count / total
    return Gate(name=name, question="operations", passed=rate <= limit, value=rate, threshold=limit,
                points=10 * _linear(rate, limit, limit * 3 + 1e-9), max_points=10,
                detail=f"{count}/{total} {name.removesuffix('_rate').replace('_', ' ')}s ({rate:.2%}, max {limit:.2%})"
                       + extra)


def _operations(e: ChallengerEvidence, s: Settings) -> list[Gate]:
    gates = [_rate_gate("refusal_rate", e.refusals, e.refusal_n, s.promotion_max_refusal_rate, "answered pairs",
                        f"; {e.flips} flips"),
             _rate_gate("error_rate", e.errors, e.rows, s.promotion_max_error_rate, "rows", ": errors or timeouts")]
    lat, max_lat = e.p95_latency_delta_ms, s.promotion_max_p95_latency_delta_ms
    if lat is None:
        gates.append(_no_data("latency_p95_delta", "operations", 10, max_lat, "no answered pairs"))
    else:
        gates.append(Gate(name="latency_p95_delta", question="operations", passed=lat <= max_lat, value=lat,
                          threshold=max_lat, points=10 * _linear(lat, max_lat, max_lat * 2 + abs(max_lat) + 1e-9),
                          max_points=10, detail=f"p95 latency delta {lat:+.1f} ms (max {max_lat:+.0f} ms)"))
    ratio, max_ratio = e.cost_ratio, s.promotion_max_cost_ratio
    if ratio is None:
        gates.append(_no_data("cost", "operations", 15, max_ratio, "no production cost: is the model in the price table?"))
    else:
        gates.append(Gate(name="cost", question="operations", passed=ratio <= max_ratio, value=ratio,
                          threshold=max_ratio,
                          points=0.0 if ratio > max_ratio else 7.5 + 7.5 * max(0.0, min(1.0, 1 - ratio)),
                          max_points=15,
                          detail=f"challenger costs {ratio:.2f}× production (max {max_ratio:.2f}×), "
                                 f"${e.challenger_cost_usd:.4f} vs ${e.production_cost_usd:.4f}"))
    return gates


def _rubric(e: ChallengerEvidence, s: Settings) -> list[Gate]:
    """judge-1's criteria, each in the question it answers, each from its own column."""
    if s.judge_mode != "rubric" and not (e.quality and e.quality.rubric_n):
        return []
    q = e.quality
    if q is None or q.rubric_n == 0:
        return [_no_data("judge_quality", "quality", 5, s.promotion_min_quality, "no rubric judgments"),
                _no_data("judge_faithfulness", "equivalence", 5, s.promotion_min_faithfulness, "no rubric judgments")]
    gates = []
    if q.rubric_quality is None:
        gates.append(_no_data("judge_quality", "quality", 5, s.promotion_min_quality, "no quality scores"))
    else:
        ok = q.rubric_quality >= s.promotion_min_quality
        gates.append(Gate(name="judge_quality", question="quality", passed=ok, value=q.rubric_quality,
                          threshold=s.promotion_min_quality, points=5 * min(1.0, q.rubric_quality / s.promotion_min_quality),
                          max_points=5, detail=f"rubric quality {q.rubric_quality:.2f} (min {s.promotion_min_quality}) "
                                               f"over {q.rubric_n} judged"))
    if q.rubric_faithfulness is None:
        gates.append(_no_data("judge_faithfulness", "equivalence", 5, s.promotion_min_faithfulness, "no scores"))
    else:
        # Agreement with production's facts: equivalence information; below the minimum it asks for a
        # person's look, never rejects as worse.
        ok = q.rubric_faithfulness >= s.promotion_min_faithfulness
        gates.append(Gate(name="judge_faithfulness", question="equivalence", passed=True if ok else None,
                          value=q.rubric_faithfulness, threshold=s.promotion_min_faithfulness,
                          points=5 * min(1.0, q.rubric_faithfulness / s.promotion_min_faithfulness), max_points=5,
                          detail=f"rubric faithfulness to production {q.rubric_faithfulness:.2f} "
                                 f"(min {s.promotion_min_faithfulness}){'' if ok else ': differs from production'}"))
    return gates


def _outcome_gate(q: WinRateResult | None) -> Gate:
    if q is None:
        return Gate(name="outcomes", question="quality", passed=None, value=None, threshold=None, points=2.5,
                    max_points=5, detail=f"{NO_DATA} (no outcome feedback joined yet)")
    return Gate(name="outcomes", question="quality", passed={"better": True, "not_worse": True, "worse": False}.get(
        q.outcome), value=q.win_rate, threshold=-q.margin, points={"better": 5.0, "not_worse": 5.0, "worse": 0.0}.get(
        q.outcome, 2.5), max_points=5, detail=f"reward difference {_f(q.win_rate, '+.4f')} over {q.pairs} events: "
                                             f"{q.outcome}")


def _slices(e: ChallengerEvidence, s: Settings) -> list[SliceVerdict]:
    """The win-rate test per route and per tenant; Holm on the always-valid p-values across them."""
    tests = [(q, win_rate_test(q.pairs, q.score_sum, q.score_sq, s.promotion_alpha, s.quality_msprt_tau,
                               s.quality_margin)) for q in e.quality_slices if q.pairs]
    if len(tests) < 2:
        return []
    # Only a slice whose win rate sits below 0.5 − margin can be flagged worse.
    p_values = [t.p_worse if (t.win_rate or 0) < 0.5 - s.quality_margin else 1.0 for _, t in tests]
    flagged = holm(p_values, s.promotion_alpha)
    return [SliceVerdict(dimension=q.dimension, value=q.value, pairs=t.pairs, win_rate=t.win_rate, low=t.low,
                         high=t.high, outcome=t.outcome, p_worse=t.p_worse, flagged=f)
            for (q, t), f in zip(tests, flagged)]


def _canary(s: Settings) -> list[CanaryStep]:
    rule = (f"error rate > {s.promotion_max_error_rate:.1%} or refusal rate > {s.promotion_max_refusal_rate:.1%} "
            f"or p95 latency delta > {s.promotion_max_p95_latency_delta_ms:.0f} ms")
    return [CanaryStep(percent=p, minutes=s.promotion_canary_step_minutes if p < 100 else 0, rollback_if=rule)
            for p in s.promotion_canary_steps]


def decide(e: ChallengerEvidence, settings: Settings, stale_reason: str | None = None) -> Verdict:
    s = settings
    outcome_q = _outcome_quality(e, s)
    judge_q = None
    if e.quality is not None and e.quality.pairs:
        jq = e.quality
        judge_q = win_rate_test(jq.pairs, jq.score_sum, jq.score_sq, s.promotion_alpha, s.quality_msprt_tau,
                                s.quality_margin)
    # Outcomes, where they exist, take precedence over the judge.
    quality, source = (outcome_q, "outcomes") if outcome_q is not None else \
        (judge_q, "judge") if judge_q is not None else (None, "none")
    equivalence, equivalence_gate = _equivalence(e, s)
    gates = [_quality_gate(judge_q if source != "outcomes" else outcome_q, source, e, s), equivalence_gate,
             *_operations(e, s), *_rubric(e, s), _outcome_gate(outcome_q)]
    slices = _slices(e, s) if source == "judge" else []
    score = round(100 * sum(g.points for g in gates) / sum(g.max_points for g in gates), 1)
    hard_fail = [g for g in gates if g.passed is False and g.name in ("refusal_rate", "error_rate")]
    soft_fail = [g for g in gates if g.passed is False and g not in hard_fail and g.name != "quality"]
    short = []
    if e.rows < s.promotion_min_samples:
        short.append(f"{e.rows} of {s.promotion_min_samples} samples")
    if e.span_hours < s.promotion_diurnal_hours:
        short.append(f"{e.span_hours:.1f} h of {s.promotion_diurnal_hours:g} h diurnal coverage")
    what = {"outcomes": "quality, from outcomes", "judge": "quality, from the pairwise judge",
            "none": "equivalence only (no quality signal)"}[source]

    verdict: VerdictKind
    needed: int | None = None
    explanation: list[str] = []
    if stale_reason:
        verdict, answered = "stale", "none: the window is stale"
        explanation.append(f"no verdict: {stale_reason}")
    elif quality is not None and quality.outcome == "worse":
        verdict, answered = "reject", what  # anytime-valid: safe to act on before the sample minimums
        explanation.append(f"rejected as worse on quality ({source}): {_f(quality.win_rate, '.3f')}, interval "
                           f"[{_f(quality.low, '.3f')}, {_f(quality.high, '.3f')}] below "
                           f"{(0.5 if source == 'judge' else 0.0) - quality.margin:+.3f}")
    elif short:
        verdict, answered = "insufficient_data", what
        needed = max(s.promotion_min_samples - e.rows, 0) or None
        explanation.append("not enough evidence yet: " + "; ".join(short))
    elif hard_fail:
        verdict, answered = "reject", "operations"
        explanation.append("rejected: failed " + ", ".join(f"{g.name} ({g.detail})" for g in hard_fail))
    elif quality is None and ((s.judge_base_url and s.judge_mode == "pairwise")
                              or (e.quality is not None and e.quality.rubric_n == 0)):
        # A judge is configured but has no verdict yet: its gate is not passed by being empty.
        verdict, answered = "insufficient_data", "quality, from the pairwise judge: no judged pairs yet"
        jq = e.quality
        why = "" if jq is None or not jq.not_judged else f" ({jq.not_judged} asked, not judged: " + "; ".join(
            f"{n}× {r}" for r, n in jq.not_judged_reasons.items()) + ")"
        explanation.append(f"quality not evaluated: no data, the judge has judged no pair yet{why}")
    elif quality is not None and quality.outcome == "undecided":
        verdict, answered = "insufficient_data", what
        needed = quality.pairs_needed
        explanation.append(f"quality undecided: win rate {_f(quality.win_rate, '.3f')}, interval "
                           f"[{_f(quality.low, '.3f')}, {_f(quality.high, '.3f')}]"
                           + (f"; decision ready in about {needed} more judged pairs" if needed else ""))
    elif quality is None and equivalence.outcome != "within_noise":
        if equivalence.outcome == "different":
            verdict, answered = "manual_review", what
            explanation.append("manual review: differs from production beyond its own variation; "
                               "no quality signal configured (set SHADOW_JUDGE_BASE_URL or send outcomes)")
        else:
            verdict, answered = "insufficient_data", what
            needed = equivalence.test.samples_needed
            explanation.append("equivalence undecided and no quality signal configured")
    else:
        answered = what if quality is not None else "equivalence: within production's own variation"
        worse_slices = [f"{x.dimension}={x.value}" for x in slices if x.flagged]
        reasons = [g.name for g in soft_fail] + [f"worse on {w}" for w in worse_slices]
        basis = f"quality {quality.outcome.replace('_', ' ')}" if quality else "a drop-in replacement"
        if score >= s.promotion_score_promote and not reasons:
            verdict = "promote"
            explanation.append(f"promote: {basis}, score {score:.1f} ≥ {s.promotion_score_promote:.0f}, every gate passed")
        elif score >= s.promotion_score_review or reasons:
            verdict = "manual_review"
            held = ", ".join(reasons) if reasons else f"score {score:.1f} < {s.promotion_score_promote:.0f}"
            explanation.append(f"manual review: {basis}, held by {held}")
        else:
            verdict = "reject"
            explanation.append(f"rejected: score {score:.1f} < {s.promotion_score_review:.0f}")
    explanation += [f"{g.name} [{g.question}]: "
                    f"{'pass' if g.passed else 'FAIL' if g.passed is False else '—'} — {g.detail}" for g in gates]
    explanation += [f"slice {x.dimension}={x.value}: win rate {_f(x.win_rate, '.3f')} over {x.pairs} pairs, "
                    f"{x.outcome}{' — WORSE here (Holm across slices)' if x.flagged else ''}" for x in slices
                    if x.flagged]
    deciding = quality if source != "none" else None
    if deciding is not None and deciding.outcome != "undecided":
        confidence = 1 - deciding.p_worse
    elif source == "none" and equivalence.outcome != "undecided":
        confidence = 1 - equivalence.test.p_value
    else:
        confidence = 0.0
    plan = _canary(s) if verdict in ("promote", "manual_review") else []
    return Verdict(challenger=e.challenger, verdict=verdict, answered=answered, score=score,
                   confidence=round(confidence, 6), samples_needed=needed, quality=quality, quality_source=source,
                   equivalence=equivalence, slices=slices, gates=gates, canary_plan=plan, explanation=explanation,
                   evidence=e)


def cheapest_passing(verdicts: list[Verdict]) -> Verdict | None:
    """Among challengers with a promote verdict, the one that costs least per request."""
    passing = [v for v in verdicts if v.verdict == "promote"]
    return min(passing, key=lambda v: (v.evidence.cost_per_request, -v.score)) if passing else None
