"""What the CLI and API call: verdicts for an app, promote and roll back — each recorded with evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.calibration import JudgeCalibration, gather_calibration
from analytics.champion import PRODUCTION, ChampionRegistry, ChampionState
from analytics.evidence import gather_evidence
from analytics.history import PublishOutcome, new_decision, record_decision
from analytics.promotion import Verdict, cheapest_passing, decide
from analytics.rollout import RolloutStore
from analytics.scope import Scope, latest_scorer_version
from analytics.staleness import LagCheck, LagStatus, stale_reason
from schemas.errors import ConfigError, InvalidRequestError, NotFoundError
from schemas.rollout import RolloutPlan
from schemas.settings import Settings

__all__ = ["PromotionReport", "ActionResult", "CanaryRequest", "verdicts", "promote", "rollback", "rollback_canary",
           "decision_scope"]


class PromotionReport(BaseModel):
    app: str
    scorer_version: str
    generated_at: datetime
    lag: LagStatus | None
    verdicts: list[Verdict]
    recommended: str | None  # the cheapest challenger with a promote verdict
    calibration: list[JudgeCalibration] = []  # every pairwise judge version of the app against people

    def summary(self) -> dict[str, dict[str, object]]:
        """challenger -> both questions' answers in short: the form the demo's JSON summary carries."""
        return {v.challenger: v.summary() for v in self.verdicts}


class ActionResult(BaseModel):
    action: str
    app: str
    challenger: str
    done: bool
    reason: str
    champion: ChampionState | None
    delivery: PublishOutcome | None
    verdict: Verdict | None = None
    rollout: RolloutPlan | None = None


class CanaryRequest(BaseModel):
    """`promote --canary`: the steps (percent) and hold time per step; None takes the verdict's plan."""

    steps: list[float] | None = None
    hold_s: float | None = None


def decision_scope(client: Client, settings: Settings, app: str, scorer_version: str = "") -> Scope:
    since = None
    if settings.promotion_window_hours > 0:
        since = datetime.now(UTC) - timedelta(hours=settings.promotion_window_hours)
    return Scope(app=app, scorer_version=scorer_version or latest_scorer_version(client, app), since=since)


def verdicts(client: Client, settings: Settings, app: str, scorer_version: str = "",
             lag_check: LagCheck | None = None, record: bool = False) -> PromotionReport:
    scope = decision_scope(client, settings, app, scorer_version)
    lag = lag_check(settings) if lag_check else None
    stale = stale_reason(lag, settings)  # the lag monitor's messages and seconds
    calibration = gather_calibration(client, app, settings.judge_min_kappa, settings.judge_calibration_min_pairs)
    results = [decide(e, settings, stale) for e in gather_evidence(client, scope, settings.readiness_min_similarity,
                                                                    calibrations=calibration)]
    best = cheapest_passing(results)
    report = PromotionReport(app=app, scorer_version=scope.scorer_version, generated_at=datetime.now(UTC), lag=lag,
                             verdicts=results, recommended=best.challenger if best else None,
                             calibration=list(calibration.values()))
    if record:
        for v in results:
            record_decision(client, settings, new_decision(
                app, "verdict", v.challenger, v.verdict, v.explanation[0], v.score,
                v.model_dump(mode="json", exclude={"evidence": {"outcome"}})))
    return report


def promote(client: Client, settings: Settings, registry: ChampionRegistry, app: str, challenger: str = "",
            force: bool = False, actor: str = "shadow-optic", lag_check: LagCheck | None = None,
            canary: CanaryRequest | None = None, rollouts: RolloutStore | None = None) -> ActionResult:
    """Make `challenger` (default: the cheapest passing one) the champion, if its verdict allows it: at
    once, or with `canary` through a progressive rollout the monitor drives (plan in Redis)."""
    report = verdicts(client, settings, app, lag_check=lag_check)
    chosen = next((v for v in report.verdicts if v.challenger == challenger), None) if challenger else \
        next((v for v in report.verdicts if v.challenger == report.recommended), None)
    if chosen is None:
        if challenger:
            raise NotFoundError(f"no challenger {challenger!r} scored for app {app!r}")
        raise InvalidRequestError(f"no challenger of app {app!r} has a promote verdict; see `shadow-optic verdict`")
    allowed = chosen.verdict == "promote" or (force and chosen.verdict in ("promote", "manual_review"))
    reason = (f"{chosen.verdict} with score {chosen.score:.1f}" + (" (forced by operator)" if force else "")
              if allowed else f"refused: verdict is {chosen.verdict} (score {chosen.score:.1f}); "
                              f"--force accepts only manual_review")
    kind = "canary" if canary is not None else "promote"
    record = new_decision(app, kind, chosen.challenger, chosen.verdict if allowed else "refused", reason,
                          chosen.score, chosen.model_dump(mode="json", exclude={"evidence": {"outcome"}}), actor)
    if canary is not None:
        return _start_canary(client, settings, registry, rollouts, app, chosen, allowed, record, canary)
    plan = rollouts.get(app) if rollouts is not None and allowed else None
    if plan is not None and plan.active:  # --now during a canary: the full switch ends it
        rollouts.finish(app, plan.rollout_id, "completed" if plan.candidate == chosen.challenger else "aborted",
                        f"superseded by an immediate promotion of {chosen.challenger}")
    state = registry.promote(app, chosen.challenger, record.decision_id) if allowed else registry.current(app)
    record = record.model_copy(update={"evidence": {**record.evidence, "champion": state.model_dump(mode="json")}})
    delivery = record_decision(client, settings, record)
    return ActionResult(action="promote", app=app, challenger=chosen.challenger, done=allowed, reason=reason,
                        champion=state, delivery=delivery, verdict=chosen)


def _start_canary(client: Client, settings: Settings, registry: ChampionRegistry, rollouts: RolloutStore | None,
                  app: str, chosen: Verdict, allowed: bool, record, canary: CanaryRequest) -> ActionResult:
    if rollouts is None:
        raise ConfigError("a canary needs the rollout store (Redis)")
    current = registry.current(app)
    plan = None
    if allowed:
        steps = canary.steps or [step.percent for step in chosen.canary_plan] or settings.promotion_canary_steps
        hold_s = canary.hold_s or (settings.promotion_canary_step_minutes * 60.0)
        if chosen.challenger == (current.champion or PRODUCTION):
            raise InvalidRequestError(f"{chosen.challenger!r} already serves app {app!r}: nothing to roll out")
        plan = rollouts.start(app, chosen.challenger, current.champion or PRODUCTION, steps, hold_s,
                              record.decision_id)
        record = record.model_copy(update={"reason": f"canary started: {record.reason}; steps "
                                                     f"{' → '.join(f'{p:g}%' for p in plan.steps)}, hold "
                                                     f"{plan.hold_s:g}s per step"})
    record = record.model_copy(update={"evidence": {**record.evidence, "champion": current.model_dump(mode="json"),
                                                    "rollout": plan.model_dump(mode="json") if plan else None}})
    delivery = record_decision(client, settings, record)
    return ActionResult(action="canary", app=app, challenger=chosen.challenger, done=allowed, reason=record.reason,
                        champion=current, delivery=delivery, verdict=chosen, rollout=plan)


def rollback_canary(client: Client, settings: Settings, rollouts: RolloutStore, plan: RolloutPlan, reason: str,
                    evidence: dict | None = None, actor: str = "shadow-optic") -> tuple[RolloutPlan, PublishOutcome]:
    """Send all traffic back to the champion; the history and shadow.decisions say why."""
    after = rollouts.finish(plan.app, plan.rollout_id, "rolled_back", reason)
    record = new_decision(plan.app, "rollback", plan.champion, "rollback", reason, None,
                          {**(evidence or {}), "rollout": after.model_dump(mode="json")}, actor)
    return after, record_decision(client, settings, record)


def rollback(client: Client, settings: Settings, registry: ChampionRegistry, app: str, to: str | None = None,
             reason: str = "operator rollback", actor: str = "shadow-optic",
             rollouts: RolloutStore | None = None) -> ActionResult:
    """During a canary: end it (the champion serves everything again). Otherwise restore the previous
    champion (or `to`)."""
    plan = rollouts.get(app) if rollouts is not None else None
    if plan is not None and plan.active and to is None:
        after, delivery = rollback_canary(client, settings, rollouts, plan, reason, actor=actor)
        return ActionResult(action="rollback", app=app, challenger=plan.champion, done=True, reason=reason,
                            champion=registry.current(app), delivery=delivery, rollout=after)
    before = registry.current(app)
    record = new_decision(app, "rollback", to or before.previous or "", "rollback", reason, None,
                          {"before": before.model_dump(mode="json")}, actor)
    state = registry.rollback(app, record.decision_id, to)
    record = record.model_copy(update={"challenger": state.champion or "",
                                       "evidence": {**record.evidence, "after": state.model_dump(mode="json")}})
    delivery = record_decision(client, settings, record)
    return ActionResult(action="rollback", app=app, challenger=state.champion or "", done=True, reason=reason,
                        champion=state, delivery=delivery)
