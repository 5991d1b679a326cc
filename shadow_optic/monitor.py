"""`shadow-optic monitor`: the process that watches continuously and closes the loop.

Every SHADOW_MONITOR_INTERVAL_S (2 s) the acting monitor judges the running rollout step on served
traffic (analytics/rollout_gates.py) and advances, completes or rolls it back; every
SHADOW_MONITOR_ALERT_INTERVAL_S it evaluates drift alerts (analytics/alerts.py, hysteresis as
`shadow-optic alerts`), every SHADOW_LAG_CHECK_INTERVAL_S consumer lag (analytics/lag_alerts.py);
with SHADOW_AUTO_PROMOTE it starts a canary once a promote verdict held for N checks. Transitions go
to the webhook and to Prometheus gauges (one per firing alert); rollout decisions to the history,
shadow.decisions and the decisions webhook.

Several monitors may run: one holds the lease (a Redis key with a TTL, renewed every check) and acts;
the others check the lease and take over within SHADOW_MONITOR_LEASE_S when it is not renewed. The
state that must survive a handover lives in Redis (the plan, the alerts already delivered, the
auto-promotion streak), not in the process.

Over 400 lines on purpose: it is the one loop that owns the lease, and the checks it drives are thin
calls into analytics/ (gates, alerts, verdicts); split further, a reader would follow one handover
across files.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import redis
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from analytics.champion import ChampionRegistry
from infra.redis_clients import redis_options
from analytics.rollout import RolloutStore, ServedFigures
from analytics.rollout_gates import RefusalFigures, StepDecision, evaluate_step
from schemas.errors import ConfigError
from schemas.redis_keys import auto_promote_key, monitor_alerts_key, monitor_lease_key, namespace, registry_hash_key
from schemas.rollout import RolloutPlan
from schemas.settings import Settings

__all__ = ["Monitor", "LeaderLease"]

log = logging.getLogger(__name__)

# Renew only our own lease: compare and extend in one step.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class LeaderLease:
    def __init__(self, client: redis.Redis, key: str, holder: str, lease_s: float) -> None:
        self._redis, self.key, self.holder = client, key, holder
        self._ms = int(lease_s * 1000)
        self._renew = client.register_script(_RENEW)

    def hold(self) -> bool:
        """True while this process holds the lease (taking it when free, renewing it when ours)."""
        if self._redis.set(self.key, self.holder, nx=True, px=self._ms):
            return True
        return bool(self._renew(keys=[self.key], args=[self.holder, self._ms]))

    def release(self) -> None:
        if self._redis.get(self.key) == self.holder:
            self._redis.delete(self.key)

    def current(self) -> str | None:
        return self._redis.get(self.key)


class _Gauges:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.leader = Gauge("shadow_optic_monitor_leader", "1 while this monitor holds the lease and acts",
                            registry=self.registry)
        self.alert = Gauge("shadow_optic_alert_firing", "1 per firing alert (drift, lag, cost budget)",
                           ["kind", "subject", "rule"], registry=self.registry)
        self.share = Gauge("shadow_optic_rollout_candidate_share", "Share of chat/completion traffic the "
                           "candidate serves (0 when no canary runs)", ["candidate"], registry=self.registry)
        self.step = Gauge("shadow_optic_rollout_step", "Index of the rollout's current step", ["candidate"],
                          registry=self.registry)
        self.last_check = Gauge("shadow_optic_monitor_last_check_timestamp", "Unix time of the last check",
                                registry=self.registry)


class Monitor:
    def __init__(self, settings: Settings, holder: str | None = None) -> None:
        if not (settings.redis_url and settings.clickhouse_url):
            raise ConfigError("the monitor needs SHADOW_REDIS_URL and SHADOW_CLICKHOUSE_URL (or `shadow-optic "
                              "stack up`)")
        self.settings = settings
        self.app = settings.app_name
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.redis = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                          **redis_options(settings.redis_url, settings.redis_security))
        prefix = settings.champion_key_prefix
        self.lease = LeaderLease(self.redis, monitor_lease_key(prefix, self.app), self.holder, settings.monitor_lease_s)
        self.rollouts = RolloutStore(self.redis, prefix)
        self.champions = ChampionRegistry(self.redis, prefix)
        self._alerts_key = monitor_alerts_key(prefix, self.app)
        self._auto_key = auto_promote_key(prefix, self.app)
        self.gauges = _Gauges()
        self.webhook_url = settings.monitor_webhook_url or settings.decisions_webhook_url
        self.acting = False
        self.last_check: datetime | None = None
        self.last_decision: dict[str, Any] | None = None
        self.firing: dict[str, dict[str, Any]] = {}
        self._next = {"alerts": 0.0, "lag": 0.0, "auto": 0.0}
        self._clickhouse: Any = None
        self._lag_alerter: Any = None
        self._lag_monitor: Any = None
        self._stop = threading.Event()

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        server = self._serve_health() if self.settings.monitor_port else None
        log.warning("monitor %s started for app %s (lease %gs, checks every %gs)", self.holder, self.app,
                    self.settings.monitor_lease_s, self.settings.monitor_interval_s)
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                self.check_once()
                self._stop.wait(max(0.0, self.settings.monitor_interval_s - (time.monotonic() - began)))
        finally:
            if server is not None:
                server.shutdown()
            self.lease.release()
            self.close()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._clickhouse is not None:
            self._clickhouse.close()
        if self._lag_monitor is not None:
            self._lag_monitor.close()

    def check_once(self) -> None:
        try:
            acting = self.lease.hold()
        except redis.RedisError as exc:  # cannot prove we lead: do not act
            log.warning("cannot reach Redis for the lease (standing by): %r", exc)
            acting = False
        if acting != self.acting:
            log.warning("monitor %s %s", self.holder, "now acts (holds the lease)" if acting else "stands by")
        self.acting = acting
        self.gauges.leader.set(1 if acting else 0)
        if acting:
            now = time.monotonic()
            for name, job in (("rollout", self.check_rollout), ("alerts", self.check_drift_alerts),
                              ("alerts", self.check_cost_budget), ("lag", self.check_lag),
                              ("auto", self.check_auto_promotion)):
                if name in self._next and now < self._next[name]:
                    continue
                try:
                    job()
                except Exception:  # one failing check must not stop the others, nor the loop
                    log.exception("monitor check %s failed", name)
            self._schedule(now)
        self.last_check = datetime.now(UTC)
        self.gauges.last_check.set(time.time())

    def _schedule(self, now: float) -> None:
        s = self.settings
        for name, every in (("alerts", s.monitor_alert_interval_s), ("lag", s.lag_check_interval_s),
                            ("auto", s.auto_promote_interval_s)):
            if now >= self._next[name]:
                self._next[name] = now + every

    @property
    def clickhouse(self) -> Any:
        if self._clickhouse is None:
            from infra.clickhouse import connect

            self._clickhouse = connect(self.settings.clickhouse_url, self.settings.clickhouse_security)
        return self._clickhouse

    # --- rollout ---------------------------------------------------------------------------------

    def check_rollout(self) -> StepDecision | None:
        plan = self.rollouts.get(self.app)
        if plan is None or not plan.active:
            self.gauges.share.clear()
            self.gauges.step.clear()
            return None
        self.gauges.share.labels(plan.candidate).set(plan.share())
        self.gauges.step.labels(plan.candidate).set(plan.step_index)
        now = datetime.now(UTC)
        since = time.time() - self.settings.rollout_window_s
        step = (self.rollouts.served(plan, "candidate"), self._champion_figures(plan))
        window = (self.rollouts.served(plan, "candidate", since=since), self._champion_figures(plan, since))
        alerts = [f"{a['subject']}: {a['rule']} ({a['message']})" for a in self._stored_firing()
                  if a["subject"] == plan.candidate]
        try:
            refusals = self._refusals(plan)
        except Exception as exc:  # ClickHouse down: the served figures in Redis still gate (and roll back)
            log.warning("refusal figures unavailable (the refusal gate is not evaluated): %r", exc)
            refusals = None
        decision = evaluate_step(plan, step, window, refusals, alerts, self.settings, now)
        evidence = {"rollout": plan.model_dump(mode="json"), "decision": decision.model_dump(mode="json")}
        if decision.action == "rollback":
            reason = (f"automatic rollback of {plan.candidate} at step {plan.step_index + 1} "
                      f"({plan.share() * 100:g} %): {decision.reason}")
            # Redis first: the gateways follow the plan, so the rollback must not wait on ClickHouse.
            after = self.rollouts.finish(self.app, plan.rollout_id, "rolled_back", reason)
            log.warning("rolled back %s: %s", plan.candidate, decision.reason)
            self._record("rollback", plan.champion, "rollback", reason,
                         {**evidence, "rollout": after.model_dump(mode="json")})
        elif decision.action == "advance":
            after = self.rollouts.advance(self.app, plan.rollout_id, decision.reason)
            self._record("step", plan.candidate, "advance",
                         f"{decision.reason}; now {after.share() * 100:g} %", evidence)
        elif decision.action == "complete":
            from analytics.history import new_decision

            record = new_decision(self.app, "promote", plan.candidate, "promote",
                                  f"canary completed: {decision.reason}", None, evidence, "monitor")
            state = self.champions.promote(self.app, plan.candidate, record.decision_id)
            self.rollouts.finish(self.app, plan.rollout_id, "completed", decision.reason)
            self._record_made(record.model_copy(update={"evidence": {**evidence,
                                                                     "champion": state.model_dump(mode="json")}}))
        if decision.action != "hold":
            self.last_decision = {"action": decision.action, "reason": decision.reason, "at": now.isoformat()}
        return decision

    def _champion_figures(self, plan: RolloutPlan, since: float | None = None) -> ServedFigures:
        """The champion's figures on this step; at a 100 % step (no champion traffic) those of the steps before."""
        current = self.rollouts.served(plan, "champion", since=since)
        if current.requests >= self.settings.rollout_min_requests or plan.step_index == 0:
            return current
        earlier = [self.rollouts.served(plan, "champion", i) for i in range(plan.step_index + 1)]
        return ServedFigures(sum(f.requests for f in earlier), sum(f.errors for f in earlier),
                             [sum(col) for col in zip(*(f.buckets for f in earlier))])

    def _refusals(self, plan: RolloutPlan) -> RefusalFigures | None:
        """Refusals of each arm's served answers on this step, from the scored rows (the production side of
        an event is the answer the caller got)."""
        candidate = self.champions_candidate_model(plan)
        if candidate is None:
            return None
        rows = self.clickhouse.query(
            "SELECT production_model = {model:String} AS is_candidate, uniqExactIf(event_id, refusal_production "
            "IS NOT NULL), uniqExactIf(event_id, refusal_production = 1) FROM shadow_scores WHERE app = {app:String} "
            "AND ts_request >= {since:DateTime64(3)} GROUP BY is_candidate",
            parameters={"model": candidate, "app": self.app,
                        "since": plan.step_started_at.replace(tzinfo=None)}).result_rows
        by_arm = {bool(r[0]): (int(r[1]), int(r[2])) for r in rows}
        cand, champ = by_arm.get(True, (0, 0)), by_arm.get(False, (0, 0))
        return RefusalFigures(candidate_answers=cand[0], candidate_refusals=cand[1], champion_answers=champ[0],
                              champion_refusals=champ[1])

    def champions_candidate_model(self, plan: RolloutPlan) -> str | None:
        from schemas.settings import ChallengerConfig

        blob = self.redis.hget(registry_hash_key(namespace(self.settings.topic_prefix)), plan.candidate)
        return ChallengerConfig.model_validate_json(blob).model if blob else None

    def _record(self, kind: str, challenger: str, verdict: str, reason: str, evidence: dict) -> None:
        from analytics.history import new_decision

        self._record_made(new_decision(self.app, kind, challenger, verdict, reason, None, evidence, "monitor"))

    def _record_made(self, record) -> None:
        from analytics.history import record_decision

        try:
            delivery = record_decision(self.clickhouse, self.settings, record)
        except Exception as exc:  # ClickHouse down: the step already happened in Redis; say what was not recorded
            log.error("%s %s done but not recorded in the history (ClickHouse: %s): %s", record.kind,
                      record.challenger, type(exc).__name__, record.reason)
            return
        log.warning("%s %s: %s (delivered: %s)", record.kind, record.challenger, record.reason, delivery)

    # --- drift alerts ----------------------------------------------------------------------------

    def check_drift_alerts(self) -> list[dict[str, Any]]:
        """Transitions not delivered yet (by any monitor): each alert fires once and clears once."""
        from analytics.alerts import evaluate_alerts
        from analytics.scope import Scope, latest_scorer_version

        since = datetime.now(UTC) - timedelta(hours=self.settings.monitor_alert_lookback_hours)
        scope = Scope(app=self.app, scorer_version=latest_scorer_version(self.clickhouse, self.app), since=since)
        events, _firing = evaluate_alerts(self.clickhouse, self.settings, scope, record=True)
        delivered = []
        known = {field: json.loads(v) for field, v in self.redis.hgetall(self._alerts_key).items()}
        for e in events:  # in time order
            field = f"{e.challenger}|{e.rule}"
            last = known.get(field)
            # A transition is new when it is later than the last one delivered and changes the state; a
            # replay that starts later (the lookback slides) can find "firing" again at a later window:
            # that is not a new transition.
            if last is not None and (e.window_start.isoformat() <= last["window_start"] or e.state == last["state"]):
                continue
            if last is None and e.state == "cleared":
                continue
            payload = {"kind": "drift_alert", "app": self.app, "subject": e.challenger, "rule": e.rule,
                       "state": e.state, "value": e.value, "threshold": e.threshold,
                       "window_start": e.window_start.isoformat(), "message": e.message}
            self.redis.hset(self._alerts_key, field, json.dumps(payload))  # first: at most one delivery
            known[field] = payload
            self._send(payload)
            delivered.append(payload)
        self._export_firing()
        return delivered

    def check_cost_budget(self) -> dict[str, Any] | None:
        """The budget kept in Redis (else SHADOW_COST_BUDGET_USD_PER_DAY): an alert while today's (or the
        month's) challenger spend is over it; it fires once and clears once, like a drift alert."""
        from analytics.cost_budget import CostBudgetStore
        from analytics.costs import cost_report
        from analytics.scope import Scope

        kept = CostBudgetStore(self.redis, self.settings.champion_key_prefix).get(self.app)
        usd = kept.usd if kept else self.settings.cost_budget_usd_per_day
        if usd is None:
            return None
        period = kept.period if kept else self.settings.cost_budget_period
        report = cost_report(self.clickhouse, self.settings, Scope(app=self.app), 0, 1, usd, period)
        now = datetime.now(UTC)
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        over = [a for a in report.budget_alerts if a.period == "month" or a.day.replace(tzinfo=UTC) >= today]
        field = "*|cost_budget"
        last = self.redis.hget(self._alerts_key, field)
        state = "firing" if over else "cleared"
        if (json.loads(last)["state"] if last else "cleared") == state:
            return None
        spent = over[0].challenger_cost_usd if over else (report.month.spent_usd if period == "month" and report.month
                                                          else sum(c.challenger_cost_usd for c in report.trend
                                                                   if c.period and c.period >= today))
        payload = {"kind": "cost_budget", "app": self.app, "subject": "*", "rule": "cost_budget", "state": state,
                   "value": spent, "threshold": usd, "window_start": now.isoformat(),
                   "message": over[0].message if over else
                   f"challenger spend ${spent:.4f} is back under the {period} budget ${usd:.4f}"}
        self.redis.hset(self._alerts_key, field, json.dumps(payload))
        self._send(payload)
        self._export_firing()
        return payload

    def _stored_firing(self) -> list[dict[str, Any]]:
        return [a for a in (json.loads(v) for v in self.redis.hgetall(self._alerts_key).values())
                if a["state"] == "firing"]

    def _export_firing(self) -> None:
        self.gauges.alert.clear()
        self.firing = {}
        for a in self._stored_firing():
            self.gauges.alert.labels(a["kind"], a["subject"], a["rule"]).set(1)
            self.firing[f"{a['kind']}|{a['subject']}|{a['rule']}"] = a
        if self._lag_alerter is not None:
            for group, state in self._lag_alerter._states.items():
                if state.firing:
                    self.gauges.alert.labels("lag", group, self._lag_alerter.rule.metric).set(1)
                    self.firing[f"lag|{group}"] = {"kind": "lag", "subject": group}

    def _send(self, payload: dict[str, Any]) -> None:
        level = logging.WARNING if payload.get("state") == "firing" else logging.INFO
        log.log(level, "alert %s: %s", payload.get("state"), payload.get("message"))
        if not self.webhook_url:
            return
        try:
            httpx.post(self.webhook_url, json=payload, timeout=5.0).raise_for_status()
        except httpx.HTTPError as exc:  # a webhook outage must not stop the monitor
            # The URL is not logged: chat webhooks carry their secret in the path.
            log.error("alert webhook failed for %s: %s", payload.get("message"), type(exc).__name__)

    # --- consumer lag ----------------------------------------------------------------------------

    def check_lag(self) -> None:
        if not self.settings.kafka_bootstrap:
            return
        from analytics.lag import LagMonitor
        from analytics.lag_alerts import AlertRule, LagAlerter

        if self._lag_alerter is None:
            self._lag_alerter = LagAlerter(AlertRule.from_settings(self.settings),
                                           self.settings.lag_alert_webhook_url or self.webhook_url)
            self._lag_monitor = LagMonitor(self.settings.kafka_bootstrap, security=self.settings.kafka_security)
        lag = self._lag_monitor.describe(self.settings.consumer_group)
        value = lag.total_lag if self._lag_alerter.rule.metric == "messages" else lag.max_lag_seconds
        self._lag_alerter.observe(lag.group, value)
        self._export_firing()

    # --- auto-promotion --------------------------------------------------------------------------

    def check_auto_promotion(self) -> None:
        """A promote verdict for the same challenger N checks in a row starts a canary (off by default)."""
        s = self.settings
        if not s.auto_promote:
            return
        plan = self.rollouts.get(self.app)
        if plan is not None and plan.active:
            return
        from analytics.service import CanaryRequest, promote, verdicts
        from analytics.staleness import kafka_lag

        report = verdicts(self.clickhouse, s, self.app, lag_check=kafka_lag if s.kafka_bootstrap else None)
        champion = self.champions.current(self.app).champion
        best = report.recommended if report.recommended != champion else None
        streak = self.redis.hgetall(self._auto_key)
        count = int(streak.get("count", 0)) + 1 if best and streak.get("challenger") == best else (1 if best else 0)
        self.redis.hset(self._auto_key, mapping={"challenger": best or "", "count": count})
        log.info("auto-promotion: recommended %s, %d/%d consecutive checks", best, count, s.auto_promote_checks)
        if best and count >= s.auto_promote_checks:
            self.redis.delete(self._auto_key)
            result = promote(self.clickhouse, s, self.champions, self.app, best, actor="monitor (auto-promotion)",
                             canary=CanaryRequest(), rollouts=self.rollouts)
            log.warning("auto-promotion of %s: %s", best, result.reason)

    # --- health ----------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        plan = self.rollouts.get(self.app) if self.acting else None
        return {"status": "ok", "holder": self.holder, "role": "acting" if self.acting else "standby",
                "leader": self.lease.current(), "app": self.app,
                "last_check": self.last_check.isoformat() if self.last_check else None,
                "rollout": plan.model_dump(mode="json") if plan else None, "last_decision": self.last_decision,
                "firing": list(self.firing.values())}

    def _serve_health(self) -> ThreadingHTTPServer:
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path.startswith("/metrics"):
                    body, ctype, code = generate_latest(monitor.gauges.registry), "text/plain; version=0.0.4", 200
                elif self.path.startswith("/healthz"):
                    try:
                        body, code = json.dumps(monitor.health()).encode(), 200
                    except Exception as exc:  # Redis down: say so, with a status a probe understands
                        body, code = json.dumps({"status": "degraded", "error": repr(exc)}).encode(), 503
                    ctype = "application/json"
                else:
                    body, ctype, code = b'{"error": "not found: /healthz or /metrics"}', "application/json", 404
                self.send_response(code)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        server = ThreadingHTTPServer((self.settings.monitor_host, self.settings.monitor_port), Handler)
        threading.Thread(target=server.serve_forever, name="monitor-health", daemon=True).start()
        return server
