"""The promotion engine: two questions answered separately, gates from Settings, a 0–100 score, a verdict.

Pure: it judges `ChallengerEvidence` (gathered from ClickHouse by analytics/evidence.py and
analytics/judgments.py) and never touches a service, so the simulations drive exactly this code.

- Quality, "is the challenger at least as good?": outcomes (labels, rewards, human ratings) where they
  exist, else people's pairwise preferences (the review page) in place of the judge's verdict on the
  pairs they rated, else the pairwise judge's win rate, each with an anytime-valid non-inferiority
  test. A judge version whose agreement with people (Cohen's kappa) is below the floor does not count.
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

from analytics.gates import (Equivalence, Gate, SliceVerdict, equivalence_gate, fmt, operation_gates, outcome_gate,
                             outcome_quality, quality_gate, rubric_gates, slice_verdicts)
from analytics.calibration import JudgeCalibration
from analytics.judgments import QualityEvidence
from analytics.people import PeopleEvidence, merge_with_judge
from analytics.stats import PairedComparison
from analytics.win_rate import WinRateResult, win_rate_test
from schemas.settings import Settings

__all__ = ["ChallengerEvidence", "Gate", "CanaryStep", "Verdict", "VerdictKind", "SliceVerdict", "Equivalence",
           "decide", "cheapest_passing"]

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
    # People's pairwise preferences (analytics/people.py) and the judge version's agreement with them.
    people: PeopleEvidence | None = None
    calibration: JudgeCalibration | None = None

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


class CanaryStep(BaseModel):
    percent: float
    minutes: int
    rollback_if: str


class Verdict(BaseModel):
    challenger: str
    verdict: VerdictKind
    answered: str = Field(description="which question decided, with what evidence")
    score: float
    confidence: float = Field(description="1 − always-valid p-value of the decision the deciding test supports")
    samples_needed: int | None
    quality: WinRateResult | None
    quality_source: Literal["outcomes", "people", "people+judge", "judge", "none"]
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
                "quality": None if q is None else q.outcome, "quality_source": self.quality_source,
                "judged_pairs": e.quality.pairs if e.quality else 0,
                "people_pairs": e.people.rated_pairs if e.people else 0,
                "people_win_rate": None if not e.people or e.people.win_rate is None else round(e.people.win_rate, 4),
                "judge_agreement": None if e.calibration is None else e.calibration.summary(),
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
    if v.quality_source == "people":
        return "people's preference rate"
    if v.quality_source == "people+judge":
        return "win rate, people's preference over the judge's"
    return "similarity vs noise floor"


def _canary(s: Settings) -> list[CanaryStep]:
    rule = (f"error rate > {s.promotion_max_error_rate:.1%} or refusal rate > {s.promotion_max_refusal_rate:.1%} "
            f"or p95 latency delta > {s.promotion_max_p95_latency_delta_ms:.0f} ms")
    return [CanaryStep(percent=p, minutes=s.promotion_canary_step_minutes if p < 100 else 0, rollback_if=rule)
            for p in s.promotion_canary_steps]


def decide(e: ChallengerEvidence, settings: Settings, stale_reason: str | None = None) -> Verdict:
    s = settings
    outcome_q = outcome_quality(e, s)
    # A judge that disagrees with people beyond the floor is not evidence (its verdicts stay stored).
    judge_counts = e.calibration is None or e.calibration.counts
    judged = e.quality is not None and e.quality.pairs > 0 and judge_counts
    rated = e.people is not None and e.people.rated_pairs > 0
    sums: tuple[int, float, float] | None = None
    if rated and judged and e.people is not None and e.quality is not None:
        sums = merge_with_judge(e.people, e.quality)  # people's preference wins on every pair they rated
    elif rated and e.people is not None:
        sums = (e.people.rated_pairs, e.people.score_sum, e.people.score_sq)
    elif judged and e.quality is not None:
        sums = (e.quality.pairs, e.quality.score_sum, e.quality.score_sq)
    judge_q = None if sums is None else win_rate_test(*sums, s.promotion_alpha, s.quality_msprt_tau, s.quality_margin)
    signal = "people+judge" if rated and judged else "people" if rated else "judge"
    # Outcomes (labels, rewards, ratings), where they exist, take precedence over preferences.
    quality, source = (outcome_q, "outcomes") if outcome_q is not None else \
        (judge_q, signal) if judge_q is not None else (None, "none")
    equivalence, equivalence_result_gate = equivalence_gate(e, s)
    gates = [quality_gate(judge_q if source != "outcomes" else outcome_q, source, e, s), equivalence_result_gate,
             *operation_gates(e, s), *rubric_gates(e, s), outcome_gate(outcome_q)]
    slices = slice_verdicts(e, s) if source == "judge" else []
    score = round(100 * sum(g.points for g in gates) / sum(g.max_points for g in gates), 1)
    hard_fail = [g for g in gates if g.passed is False and g.name in ("refusal_rate", "error_rate")]
    soft_fail = [g for g in gates if g.passed is False and g not in hard_fail and g.name != "quality"]
    short = []
    if e.rows < s.promotion_min_samples:
        short.append(f"{e.rows} of {s.promotion_min_samples} samples")
    if e.span_hours < s.promotion_diurnal_hours:
        short.append(f"{e.span_hours:.1f} h of {s.promotion_diurnal_hours:g} h diurnal coverage")
    what = {"outcomes": "quality, from outcomes", "judge": "quality, from the pairwise judge",
            "people": "quality, from people's pairwise ratings",
            "people+judge": "quality, from people's pairwise ratings where they rated, else the pairwise judge",
            "none": "equivalence only (no quality signal)"}[source]

    verdict: VerdictKind
    needed: int | None = None
    explanation: list[str] = []
    if stale_reason:
        verdict, answered = "stale", "none: the window is stale"
        explanation.append(f"no verdict: {stale_reason}")
    elif quality is not None and quality.outcome == "worse":
        verdict, answered = "reject", what  # anytime-valid: safe to act on before the sample minimums
        explanation.append(f"rejected as worse on quality ({source}): {fmt(quality.win_rate, '.3f')}, interval "
                           f"[{fmt(quality.low, '.3f')}, {fmt(quality.high, '.3f')}] below "
                           f"{(0.5 if source == 'judge' else 0.0) - quality.margin:+.3f}")
    elif short:
        verdict, answered = "insufficient_data", what
        needed = max(s.promotion_min_samples - e.rows, 0) or None
        explanation.append("not enough evidence yet: " + "; ".join(short))
    elif hard_fail:
        verdict, answered = "reject", "operations"
        explanation.append("rejected: failed " + ", ".join(f"{g.name} ({g.detail})" for g in hard_fail))
    elif quality is None and not judge_counts:
        verdict, answered = "insufficient_data", "quality: the judge does not count and people rated no pair"
        explanation.append(f"quality not evaluated: judge {e.calibration.judge_version if e.calibration else ''} "
                           f"{e.calibration.status if e.calibration else ''}; rate pairs on /review")
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
        explanation.append(f"quality undecided: win rate {fmt(quality.win_rate, '.3f')}, interval "
                           f"[{fmt(quality.low, '.3f')}, {fmt(quality.high, '.3f')}]"
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
    if e.calibration is not None and source not in ("outcomes",):
        explanation.append(f"judge {e.calibration.judge_version} against people: {e.calibration.status}"
                           + ("" if e.calibration.flip_rate is None
                              else f"; flipped with the order on {e.calibration.flip_rate:.1%} of its pairs"))
    explanation += [f"{g.name} [{g.question}]: "
                    f"{'pass' if g.passed else 'FAIL' if g.passed is False else '—'} — {g.detail}" for g in gates]
    explanation += [f"slice {x.dimension}={x.value}: win rate {fmt(x.win_rate, '.3f')} over {x.pairs} pairs, "
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
