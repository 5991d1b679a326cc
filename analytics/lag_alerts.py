"""Consumer-lag alerts with hysteresis, delivered to the log and to a webhook.

An alert fires after `checks` consecutive checks above `fire_above` and clears after as many
consecutive checks below `clear_below` (< fire_above). Between the two thresholds nothing changes,
so a lag that hovers around one number does not page anyone twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.errors import ConfigError
from schemas.settings import Settings

__all__ = ["AlertKind", "AlertRule", "LagAlert", "HysteresisAlert", "LagAlerter"]

log = logging.getLogger(__name__)


class AlertKind(StrEnum):
    FIRED = "fired"
    CLEARED = "cleared"


class AlertRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: Literal["messages", "seconds"] = "messages"
    fire_above: float = Field(ge=0)
    clear_below: float = Field(ge=0)
    checks: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _clear_below_fire(self) -> "AlertRule":
        if self.clear_below > self.fire_above:
            raise ValueError(f"clear_below ({self.clear_below}) must not exceed fire_above ({self.fire_above}): "
                             "the gap between them is the hysteresis")
        return self

    @classmethod
    def from_settings(cls, settings: Settings) -> "AlertRule":
        try:
            return cls(metric=settings.lag_alert_metric, fire_above=settings.lag_alert_fire_above,
                       clear_below=settings.lag_alert_clear_below, checks=settings.lag_alert_checks)
        except ValueError as exc:
            raise ConfigError(f"SHADOW_LAG_ALERT_*: {exc}") from exc


class LagAlert(BaseModel):
    """What the webhook receives (JSON)."""

    kind: AlertKind
    group: str
    metric: str
    value: float
    threshold: float
    checks: int
    at: datetime


class HysteresisAlert:
    """The state of one alert (one group); `observe` returns an AlertKind on a transition, else None."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.firing = False
        self._streak = 0  # consecutive checks that argue for a transition

    def observe(self, value: float) -> AlertKind | None:
        if not self.firing:
            self._streak = self._streak + 1 if value > self.rule.fire_above else 0
            if self._streak >= self.rule.checks:
                self.firing, self._streak = True, 0
                return AlertKind.FIRED
        else:
            self._streak = self._streak + 1 if value < self.rule.clear_below else 0
            if self._streak >= self.rule.checks:
                self.firing, self._streak = False, 0
                return AlertKind.CLEARED
        return None


class LagAlerter:
    """One HysteresisAlert per group; transitions go to the log and, when configured, to a webhook."""

    def __init__(self, rule: AlertRule, webhook_url: str | None = None, http: httpx.Client | None = None) -> None:
        self.rule = rule
        self.webhook_url = webhook_url
        self._http = http
        self._states: dict[str, HysteresisAlert] = {}
        self.sent: list[LagAlert] = []

    def firing(self, group: str) -> bool:
        state = self._states.get(group)
        return state is not None and state.firing

    def observe(self, group: str, value: float, now: datetime | None = None) -> LagAlert | None:
        state = self._states.setdefault(group, HysteresisAlert(self.rule))
        kind = state.observe(value)
        if kind is None:
            return None
        threshold = self.rule.fire_above if kind is AlertKind.FIRED else self.rule.clear_below
        alert = LagAlert(kind=kind, group=group, metric=self.rule.metric, value=value, threshold=threshold,
                         checks=self.rule.checks, at=now or datetime.now(UTC))
        level = logging.WARNING if kind is AlertKind.FIRED else logging.INFO
        log.log(level, "consumer lag alert %s for group %s: %s lag %.1f (threshold %.1f, %d checks)",
                kind.value, group, self.rule.metric, value, threshold, self.rule.checks)
        self._deliver(alert)
        self.sent.append(alert)
        return alert

    def _deliver(self, alert: LagAlert) -> None:
        if not self.webhook_url:
            return
        # A webhook outage must not stop the monitor: log it, the next transition tries again.
        try:
            if self._http is not None:
                response = self._http.post(self.webhook_url, json=alert.model_dump(mode="json"), timeout=10)
            else:
                response = httpx.post(self.webhook_url, json=alert.model_dump(mode="json"), timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            # The URL is not logged: chat webhooks carry their secret in the path.
            log.error("lag alert webhook failed for group %s (%s): %s", alert.group, alert.kind.value,
                      type(exc).__name__)
