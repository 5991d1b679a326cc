"""The gates of a verdict, each in the question it answers: quality, equivalence or operations.

Pure functions of `ChallengerEvidence` and Settings, used by `analytics/promotion.decide`. A configured
gate without data stays in the verdict as "not evaluated: no data" with half its points; it never
passes or disappears silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from analytics.sequential import SequentialResult, sequential_test
from analytics.win_rate import WinRateResult, holm, win_rate_test
from schemas.settings import Settings

if TYPE_CHECKING:
    from analytics.promotion import ChallengerEvidence

__all__ = ["Gate", "Equivalence", "SliceVerdict", "Question", "NO_DATA", "equivalence_gate", "fmt", "no_data",
           "operation_gates", "outcome_gate", "outcome_quality", "quality_gate", "rubric_gates", "slice_verdicts"]

Question = Literal["quality", "equivalence", "operations"]
NO_DATA = "not evaluated: no data"


class Gate(BaseModel):
    name: str
    question: Question
    passed: bool | None  # None: not decided yet, or not evaluated for want of data (detail says which)
    value: float | None
    threshold: float | None
    points: float
    max_points: float
    detail: str


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


def linear(value: float, good: float, bad: float) -> float:
    """1 at or better than `good`, 0 at or past `bad`, linear between."""
    if bad == good:
        return 1.0 if value <= good else 0.0
    return max(0.0, min(1.0, (bad - value) / (bad - good)))


def fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else format(value, pattern)


def no_data(name: str, question: Question, max_points: float, threshold: float | None, what: str) -> Gate:
    return Gate(name=name, question=question, passed=None, value=None, threshold=threshold, points=max_points / 2,
                max_points=max_points, detail=f"{NO_DATA} ({what})")


def outcome_quality(e: ChallengerEvidence, s: Settings) -> WinRateResult | None:
    """Outcomes as a quality test: the paired reward difference's CI against −margin."""
    o = e.outcome
    if o is None or o.n == 0 or o.ci_low is None or o.ci_high is None:
        return None
    outcome = ("better" if o.ci_low > 0 else "not_worse" if o.ci_low > -s.promotion_margin
               else "worse" if o.ci_high < -s.promotion_margin else "undecided")
    return WinRateResult(pairs=o.n, win_rate=o.mean_diff, low=o.ci_low, high=o.ci_high, margin=s.promotion_margin,
                         alpha=0.05, outcome=outcome, p_worse=o.p_value if o.p_value is not None else 1.0,
                         pairs_needed=None)


def quality_gate(q: WinRateResult | None, source: str, e: ChallengerEvidence, s: Settings) -> Gate:
    judge_on = bool(s.judge_base_url) or e.quality is not None
    if q is None:
        if judge_on:
            return no_data("quality", "quality", 30, 0.5 - s.quality_margin, "no judged pairs yet")
        # Not configured, so not in the score: the score is over the gates that apply.
        return Gate(name="quality", question="quality", passed=None, value=None, threshold=None, points=0,
                    max_points=0, detail="no quality signal configured (no judge, no outcomes): equivalence only")
    points = {"better": 30.0, "not_worse": 24.0, "worse": 0.0,
              "undecided": 12.0 if (q.win_rate or 0) >= 0.5 - q.margin else 6.0}[q.outcome]
    if source == "outcomes":
        detail = (f"outcomes: reward challenger − production {fmt(q.win_rate, '+.4f')} over {q.pairs} events, "
                  f"95% CI [{fmt(q.low, '+.4f')}, {fmt(q.high, '+.4f')}] vs −margin {-q.margin:+.3f}: {q.outcome}")
    elif source in ("people", "people+judge"):
        people = e.people
        assert people is not None
        judge = e.quality if source == "people+judge" else None
        detail = (f"{'people' if judge is None else 'people over the judge'}: win rate {fmt(q.win_rate, '.3f')} "
                  f"over {q.pairs} pairs ({people.rated_pairs} rated by {people.reviewers} reviewer(s)"
                  + (f", {people.both_pairs} of them overruling the judge, {judge.pairs - people.both_pairs} "
                     "from the judge" if judge is not None else "")
                  + f"), {1 - q.alpha:.0%} anytime-valid interval [{fmt(q.low, '.3f')}, {fmt(q.high, '.3f')}] "
                  f"vs {0.5 - q.margin:.2f}: {q.outcome.replace('_', ' ')}")
    else:
        jq = e.quality
        assert jq is not None
        detail = (f"judge win rate {fmt(q.win_rate, '.3f')} over {q.pairs} judged pairs, "
                  f"{1 - q.alpha:.0%} anytime-valid interval [{fmt(q.low, '.3f')}, {fmt(q.high, '.3f')}] "
                  f"vs {0.5 - q.margin:.2f}: {q.outcome.replace('_', ' ')}; "
                  f"judge flipped with the order on {fmt(jq.flip_rate, '.1%')} (counted as ties); "
                  f"{jq.not_judged} not judged; median answer length {fmt(jq.length_ratio, '.2f')}× production's"
                  + (f"; decision in about {q.pairs_needed} more judged pairs" if q.pairs_needed else ""))
    return Gate(name="quality", question="quality", passed={"better": True, "not_worse": True, "worse": False}.get(
        q.outcome), value=q.win_rate, threshold=0.5 - q.margin, points=points, max_points=30, detail=detail)


def equivalence_gate(e: ChallengerEvidence, s: Settings) -> tuple[Equivalence, Gate]:
    tol = s.promotion_noise_floor_tolerance
    seq = sequential_test(e.paired_n, e.paired_mean, e.paired_sd, s.promotion_alpha, s.promotion_msprt_tau, tol)
    outcome = {"better": "within_noise", "worse": "different"}.get(seq.outcome, "undecided")
    floor = e.control_similarity if e.control_similarity is not None else s.readiness_min_similarity
    equivalence = Equivalence(outcome=outcome, similarity=e.mean_similarity, noise_floor=e.control_similarity,
                              reference=e.reference, test=seq)  # type: ignore[arg-type]
    if e.mean_similarity is None:
        return equivalence, no_data("equivalence", "equivalence", 10, None, "no scored similarity")
    points = {"within_noise": 10.0, "undecided": 5.0, "different": 3.0}[outcome]
    words = {"within_noise": "within production's own variation: a drop-in replacement",
             "different": "differs from production beyond its own variation (different is not worse)",
             "undecided": "not yet told apart from production's own variation"}[outcome]
    detail = (f"similarity to production {e.mean_similarity:.3f} vs noise floor {floor:.3f} "
              f"({'production asked again' if e.control_similarity is not None else 'no control: fixed reference'}); "
              f"per-event gap {fmt(seq.mean, '+.4f')}, interval [{fmt(seq.cs_low, '+.4f')}, {fmt(seq.cs_high, '+.4f')}] "
              f"vs −{tol:.2f}: {words}")
    if e.label_n:  # a classifier or JSON model: agreement and flips next to the control's
        detail += (f"; labels agree with production on {e.label_agreement:.1%} of {e.label_n} "
                   f"(control {fmt(e.control_label_agreement, '.1%')}), {e.label_flips} flips "
                   f"(control {e.control_label_flips})")
    # passed is never False: being different is information for the rollout, not a failure.
    return equivalence, Gate(name="equivalence", question="equivalence", passed=True if outcome == "within_noise"
                             else None, value=e.mean_similarity, threshold=floor - tol, points=points,
                             max_points=10, detail=detail)


def rate_gate(name: str, count: int, total: int, limit: float, what: str, extra: str = "") -> Gate:
    """A share that must stay at or below `limit`; full points at the limit's good side, none at 3×."""
    if total == 0:
        return no_data(name, "operations", 10, limit, f"no {what}")
    rate = count / total
    return Gate(name=name, question="operations", passed=rate <= limit, value=rate, threshold=limit,
                points=10 * linear(rate, limit, limit * 3 + 1e-9), max_points=10,
                detail=f"{count}/{total} {name.removesuffix('_rate').replace('_', ' ')}s ({rate:.2%}, max {limit:.2%})"
                       + extra)


def operation_gates(e: ChallengerEvidence, s: Settings) -> list[Gate]:
    gates = [rate_gate("refusal_rate", e.refusals, e.refusal_n, s.promotion_max_refusal_rate, "answered pairs",
                        f"; {e.flips} flips"),
             rate_gate("error_rate", e.errors, e.rows, s.promotion_max_error_rate, "rows", ": errors or timeouts")]
    lat, max_lat = e.p95_latency_delta_ms, s.promotion_max_p95_latency_delta_ms
    if lat is None:
        gates.append(no_data("latency_p95_delta", "operations", 10, max_lat, "no answered pairs"))
    else:
        gates.append(Gate(name="latency_p95_delta", question="operations", passed=lat <= max_lat, value=lat,
                          threshold=max_lat, points=10 * linear(lat, max_lat, max_lat * 2 + abs(max_lat) + 1e-9),
                          max_points=10, detail=f"p95 latency delta {lat:+.1f} ms (max {max_lat:+.0f} ms)"))
    ratio, max_ratio = e.cost_ratio, s.promotion_max_cost_ratio
    if ratio is None:
        gates.append(no_data("cost", "operations", 15, max_ratio, "no production cost: is the model in the price table?"))
    else:
        gates.append(Gate(name="cost", question="operations", passed=ratio <= max_ratio, value=ratio,
                          threshold=max_ratio,
                          points=0.0 if ratio > max_ratio else 7.5 + 7.5 * max(0.0, min(1.0, 1 - ratio)),
                          max_points=15,
                          detail=f"challenger costs {ratio:.2f}× production (max {max_ratio:.2f}×), "
                                 f"${e.challenger_cost_usd:.4f} vs ${e.production_cost_usd:.4f}"))
    return gates


def rubric_gates(e: ChallengerEvidence, s: Settings) -> list[Gate]:
    """judge-1's criteria, each in the question it answers, each from its own column."""
    if s.judge_mode != "rubric" and not (e.quality and e.quality.rubric_n):
        return []
    q = e.quality
    if q is None or q.rubric_n == 0:
        return [no_data("judge_quality", "quality", 5, s.promotion_min_quality, "no rubric judgments"),
                no_data("judge_faithfulness", "equivalence", 5, s.promotion_min_faithfulness, "no rubric judgments")]
    gates = []
    if q.rubric_quality is None:
        gates.append(no_data("judge_quality", "quality", 5, s.promotion_min_quality, "no quality scores"))
    else:
        ok = q.rubric_quality >= s.promotion_min_quality
        gates.append(Gate(name="judge_quality", question="quality", passed=ok, value=q.rubric_quality,
                          threshold=s.promotion_min_quality, points=5 * min(1.0, q.rubric_quality / s.promotion_min_quality),
                          max_points=5, detail=f"rubric quality {q.rubric_quality:.2f} (min {s.promotion_min_quality}) "
                                               f"over {q.rubric_n} judged"))
    if q.rubric_faithfulness is None:
        gates.append(no_data("judge_faithfulness", "equivalence", 5, s.promotion_min_faithfulness, "no scores"))
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


def outcome_gate(q: WinRateResult | None) -> Gate:
    if q is None:
        return Gate(name="outcomes", question="quality", passed=None, value=None, threshold=None, points=2.5,
                    max_points=5, detail=f"{NO_DATA} (no outcome feedback joined yet)")
    return Gate(name="outcomes", question="quality", passed={"better": True, "not_worse": True, "worse": False}.get(
        q.outcome), value=q.win_rate, threshold=-q.margin, points={"better": 5.0, "not_worse": 5.0, "worse": 0.0}.get(
        q.outcome, 2.5), max_points=5, detail=f"reward difference {fmt(q.win_rate, '+.4f')} over {q.pairs} events: "
                                             f"{q.outcome}")


def slice_verdicts(e: ChallengerEvidence, s: Settings) -> list[SliceVerdict]:
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
