"""Served-traffic gates of a rollout step: the candidate against the champion on the same step.

Pure: figures in, a decision out. Each gate is judged twice, on the whole step and on the recent
window (SHADOW_ROLLOUT_WINDOW_S), so a candidate that starts failing mid-step is caught within one
window, not diluted by the good minutes before it. A gate without enough served requests on both
arms (SHADOW_ROLLOUT_MIN_REQUESTS) is "not evaluated" and holds the step: a step never advances on
error and latency figures it does not have. The refusal gate reads scored served traffic (the worker's
refusal flags on each answer served, which lag behind by the pipeline's freshness): it fails a step
when its figures show it, and is reported "not evaluated" without holding the step while they are
missing. A firing drift alert of the candidate fails the step. The error gate fails when the increase is
over its limit and a two-proportion z-test says it is not chance (α = 0.01).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from analytics.rollout import ServedFigures
from schemas.rollout import RolloutPlan
from schemas.settings import Settings

__all__ = ["ServedGate", "StepDecision", "RefusalFigures", "evaluate_step"]


class ServedGate(BaseModel):
    name: str
    scope: Literal["step", "window"]
    status: Literal["pass", "fail", "not_evaluated"]
    candidate: float | None
    champion: float | None
    threshold: float
    detail: str


class RefusalFigures(BaseModel):
    candidate_answers: int
    candidate_refusals: int
    champion_answers: int
    champion_refusals: int


class StepDecision(BaseModel):
    action: Literal["hold", "advance", "complete", "rollback"]
    reason: str
    gates: list[ServedGate]
    held_s: float


_Z_CRITICAL = 2.33  # one-sided α = 0.01


def _two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return 0.0
    return (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


def _rate_gate(name: str, scope: str, cand: ServedFigures, champ: ServedFigures, limit: float, minimum: int
               ) -> ServedGate:
    if cand.requests < minimum or champ.requests < minimum:
        return ServedGate(name=name, scope=scope, status="not_evaluated", candidate=cand.error_rate,
                          champion=champ.error_rate, threshold=limit,
                          detail=f"{cand.requests} candidate / {champ.requests} champion requests (need {minimum})")
    delta = (cand.error_rate or 0.0) - (champ.error_rate or 0.0)
    z = _two_proportion_z(cand.errors, cand.requests, champ.errors, champ.requests)
    # Over the limit *and* unlikely to be chance (one-sided z > 2.33, α = 0.01): one stray error among a
    # few dozen requests does not roll a canary back; a real jump in errors does within a window.
    failed = delta > limit and z > _Z_CRITICAL
    return ServedGate(name=name, scope=scope, status="fail" if failed else "pass", candidate=cand.error_rate,
                      champion=champ.error_rate, threshold=limit,
                      detail=f"error rate {cand.error_rate:.2%} ({cand.errors}/{cand.requests}) vs champion "
                             f"{champ.error_rate:.2%} ({champ.errors}/{champ.requests}): {delta:+.2%}, max +{limit:.2%}"
                             f", z {z:.2f} (fails above {_Z_CRITICAL})")


def _latency_gate(scope: str, cand: ServedFigures, champ: ServedFigures, limit: float, minimum: int) -> ServedGate:
    c95, h95 = cand.p95_ms(), champ.p95_ms()
    if cand.requests < minimum or champ.requests < minimum or c95 is None or h95 is None:
        return ServedGate(name="p95_latency", scope=scope, status="not_evaluated", candidate=c95, champion=h95,
                          threshold=limit, detail=f"{cand.requests} candidate / {champ.requests} champion requests "
                                                  f"(need {minimum})")
    delta = c95 - h95
    return ServedGate(name="p95_latency", scope=scope, status="fail" if delta > limit else "pass", candidate=c95,
                      champion=h95, threshold=limit,
                      detail=f"p95 ≤ {c95:g} ms vs champion ≤ {h95:g} ms (histogram buckets): {delta:+g} ms, "
                             f"max +{limit:g} ms")


def _refusal_gate(figures: RefusalFigures | None, limit: float, minimum: int) -> ServedGate:
    if figures is None or figures.candidate_answers < minimum or figures.champion_answers < minimum:
        have = "no scored served traffic" if figures is None else \
            f"{figures.candidate_answers} candidate / {figures.champion_answers} champion scored answers"
        return ServedGate(name="refusal_rate", scope="step", status="not_evaluated", candidate=None, champion=None,
                          threshold=limit, detail=f"{have} (need {minimum})")
    cand = figures.candidate_refusals / figures.candidate_answers
    champ = figures.champion_refusals / figures.champion_answers
    return ServedGate(name="refusal_rate", scope="step", status="fail" if cand - champ > limit else "pass",
                      candidate=cand, champion=champ, threshold=limit,
                      detail=f"refusals {cand:.2%} vs champion {champ:.2%}, max +{limit:.2%}")


def evaluate_step(plan: RolloutPlan, step: tuple[ServedFigures, ServedFigures],
                  window: tuple[ServedFigures, ServedFigures], refusals: RefusalFigures | None,
                  firing_alerts: list[str], settings: Settings, now: datetime) -> StepDecision:
    """step/window: (candidate, champion) figures. On the last step at 100 % the champion serves
    nothing: the caller passes the champion's figures of the earlier steps."""
    s = settings
    gates = [
        _rate_gate("error_rate", "window", *window, s.rollout_max_error_rate_increase, s.rollout_min_requests),
        _latency_gate("window", *window, s.rollout_max_p95_latency_delta_ms, s.rollout_min_requests),
        _rate_gate("error_rate", "step", *step, s.rollout_max_error_rate_increase, s.rollout_min_requests),
        _latency_gate("step", *step, s.rollout_max_p95_latency_delta_ms, s.rollout_min_requests),
        _refusal_gate(refusals, s.rollout_max_refusal_rate_increase, s.rollout_min_requests),
        ServedGate(name="drift_alerts", scope="step", status="fail" if firing_alerts else "pass",
                   candidate=float(len(firing_alerts)), champion=None, threshold=0,
                   detail="; ".join(firing_alerts) or f"no drift alert firing for {plan.candidate}"),
    ]
    held_s = (now - plan.step_started_at).total_seconds()
    failed = [g for g in gates if g.status == "fail"]
    if failed:
        return StepDecision(action="rollback", gates=gates, held_s=held_s,
                            reason="; ".join(f"{g.name} ({g.scope}): {g.detail}" for g in failed))
    missing = [g for g in gates if g.status == "not_evaluated" and g.scope == "step" and g.name != "refusal_rate"]
    if held_s < plan.hold_s or missing:
        why = f"held {held_s:.0f}s of {plan.hold_s:g}s" if held_s < plan.hold_s else \
            "waiting for figures: " + "; ".join(f"{g.name}: {g.detail}" for g in missing)
        return StepDecision(action="hold", gates=gates, held_s=held_s, reason=why)
    passed = ", ".join(sorted({g.name for g in gates if g.status == "pass"}))
    action = "complete" if plan.last_step else "advance"
    return StepDecision(action=action, gates=gates, held_s=held_s,
                        reason=f"step {plan.step_index + 1}/{len(plan.steps)} ({plan.steps[plan.step_index]:g} %) "
                               f"held {held_s:.0f}s with every gate passing ({passed})")
