"""Replays one batch of production events to every active challenger, concurrently, at most once per pair.

Per (event, challenger): eligible? -> claim (Redis) -> allocated? -> breaker -> limiter/budget
(Redis, shared by all workers; wait for the booked slot, skip past the lag budget) -> call -> store
the result under the claim. Every outcome is a ShadowResult with a status, so each pair is one row.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

import httpx

from schemas.events import InferenceEvent, ShadowResult, ShadowStatus
from schemas.settings import AccessSettings, ChallengerConfig, GatewaySettings, ModelSettings, WorkerSettings
from stream_agents.allocation import Evidence, fixed_pick, thompson_pick
from stream_agents.allowed_hosts import AllowedHosts
from stream_agents.breaker import BreakerState, CircuitBreaker
from stream_agents.challenger_client import ChallengerClient
from stream_agents.claims import ClaimOutcome, ClaimStore, abandoned_result
from stream_agents.limits import AdmissionOutcome, RateLimiter, SpendLimits
from stream_agents.metrics import WorkerMetrics
from stream_agents.python_challenger import PythonChallengerClient, PythonPools
from stream_agents.retry import doubling_delays, retry_forever

__all__ = ["ActiveChallenger", "ReplayStage"]

log = logging.getLogger(__name__)
_BREAKER_GAUGE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


@dataclass
class ActiveChallenger:
    """One challenger as this worker runs it: client, breaker and limits."""

    config: ChallengerConfig
    client: ChallengerClient
    breaker: CircuitBreaker
    limits: SpendLimits
    paused_until: float = 0.0  # monotonic; a Retry-After for challengers without a shared rate limit
    opened_seen: int = field(default=0)


class ReplayStage:
    """Starts with `models.challengers`; `set_challengers` follows the registry from then on."""

    def __init__(self, worker: WorkerSettings, models: ModelSettings, http: httpx.AsyncClient, claims: ClaimStore,
                 limiter: RateLimiter, metrics: WorkerMetrics | None = None, rng: random.Random | None = None,
                 allowed: AllowedHosts | None = None, production: GatewaySettings | None = None) -> None:
        """`allowed`: where challengers may be (default: loopback and the hosts of `models.challengers`).
        `production`: where the champion `production` answers, for events a canary's candidate served."""
        self._settings = worker
        self._models = models
        self._http = http
        self._claims = claims
        self._limiter = limiter
        self.metrics = metrics or WorkerMetrics()
        self._rng = rng or random.Random()
        self._slots = asyncio.Semaphore(worker.replay_concurrency)
        self._active: dict[str, ActiveChallenger] = {}
        self._inflight: set[tuple[str, str]] = set()
        self.evidence: dict[str, Evidence] = {}
        self._allowed = allowed or AllowedHosts.from_sections(AccessSettings(), models, None)
        self._pools = PythonPools(worker.python_challenger_processes)  # python challengers, executor=process
        self._production = production
        self._champions: dict[tuple[str, str], ActiveChallenger] = {}  # (champion, model) for canaries
        self.set_challengers(models.challengers)

    def close(self) -> None:
        """Stop the process pools of python challengers (if any started)."""
        self._pools.close()

    # --- challengers ---------------------------------------------------------------------------

    @property
    def challengers(self) -> list[ActiveChallenger]:
        return list(self._active.values())

    def set_challengers(self, configs: list[ChallengerConfig]) -> None:
        """Follow the registry: new ones start closed, changed ones keep their breaker, removed ones go."""
        s = self._settings
        active: dict[str, ActiveChallenger] = {}
        for config in configs:
            if not self._allowed.allows_challenger(config):
                # A registry write alone must not send prompts to a new host or run new code: skipped, loudly.
                log.error("challenger %r skipped: %s is outside the allowed hosts or python targets (%s); it "
                          "receives nothing", config.name, config.target or config.base_url, self._allowed.source)
                self.metrics.outside_allowed_hosts.labels(config.name).inc()
                continue
            old = self._active.get(config.name)
            if old is not None and old.config == config:
                active[config.name] = old
                continue
            breaker = old.breaker if old is not None else CircuitBreaker(
                s.breaker_failure_threshold, s.breaker_open_s, s.breaker_half_open_probes)
            limits = SpendLimits(rate_rps=config.rate_limit_rps, burst=config.rate_limit_burst,
                                 budget_usd=config.budget_usd, budget_period=config.budget_period,
                                 shared_budget_usd=None if config.control else s.replay_shared_budget_usd,
                                 shared_period=s.replay_shared_budget_period)
            if config.kind == "python":
                client: ChallengerClient = PythonChallengerClient(config, self._pools,
                                                                  self._models.challenger_price(config))
            else:
                client = ChallengerClient(config, self._http, max_attempts=s.replay_max_attempts,
                                          retry_after_cap_s=s.replay_retry_after_cap_s, rng=self._rng,
                                          price=self._models.challenger_price(config))
            active[config.name] = ActiveChallenger(config, client, breaker, limits)
        self._active = active
        self.metrics.challengers.set(len(active))

    def _champion_for(self, event: InferenceEvent) -> ActiveChallenger | None:
        """During a canary, an event the candidate served is shadowed to the champion alone (judged as the
        challenger of the candidate's answer), so quality keeps its evidence on the candidate's traffic.
        The champion is a registered challenger, or `production`: SHADOW_PRODUCTION_URL with the model the
        caller asked for."""
        serving = event.serving
        if serving is None or serving.arm != "candidate" or not serving.compare_with:
            return None
        registered = self._active.get(serving.compare_with)
        if registered is not None:
            return registered
        if self._production is None:
            return None  # no production endpoint known here (a backfill): replay as any other event
        model = serving.requested_model or event.request.model
        key = (serving.compare_with, model)
        if key not in self._champions:
            s, p = self._settings, self._production
            config = ChallengerConfig(name=serving.compare_with, base_url=p.production_url, model=model,
                                      api_key=p.production_api_key)
            self._champions[key] = ActiveChallenger(
                config, ChallengerClient(config, self._http, max_attempts=s.replay_max_attempts,
                                         retry_after_cap_s=s.replay_retry_after_cap_s, rng=self._rng,
                                         price=self._models.price_of(model)),
                CircuitBreaker(s.breaker_failure_threshold, s.breaker_open_s, s.breaker_half_open_probes),
                SpendLimits())
        return self._champions[key]

    def _allocated(self) -> set[str]:
        """Challengers that get this event. Controls always do: the noise floor needs every sample."""
        s, names = self._settings, [c.config.name for c in self._active.values() if not c.config.control]
        controls = {c.config.name for c in self._active.values() if c.config.control}
        if s.replay_allocation == "all" or len(names) <= s.replay_allocation_fanout:
            return controls | set(names)
        if s.replay_allocation == "thompson":
            picked = thompson_pick(names, self.evidence, s.replay_allocation_target, s.replay_allocation_fanout,
                                   self._rng)
        else:
            shares = {c.config.name: c.config.allocation_share for c in self._active.values()}
            picked = fixed_pick(names, shares, s.replay_allocation_fanout, self._rng)
        return controls | set(picked)

    # --- replay --------------------------------------------------------------------------------

    async def replay(self, events: list[InferenceEvent], timestamps: list[float] | None = None
                     ) -> list[ShadowResult]:
        """One result per (event, challenger), in order. Raises (after every pair has finished) if Redis
        failed, so the caller retries the batch: the claims make that retry call nobody twice."""
        stamps = timestamps or [time.time()] * len(events)
        active = self.challengers
        jobs = []
        for event, stamp in zip(events, stamps):
            champion = self._champion_for(event)
            if champion is not None:  # the candidate served it: the champion's answer is the comparison
                jobs.append(self._one(event, champion, True, stamp))
                continue
            chosen = self._allocated()
            jobs.extend(self._one(event, c, c.config.name in chosen, stamp) for c in active)
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            self.metrics.redis_errors.inc()
            raise errors[0]
        return [o for o in outcomes if o is not None]

    async def _one(self, event: InferenceEvent, ch: ActiveChallenger, allocated: bool, stamp: float
                   ) -> ShadowResult | None:
        config = ch.config
        if not event.replayable:
            return self._count(ch.client.result(event, ShadowStatus.INELIGIBLE,
                                                error=event.not_replayable_reason or "not replayable"))
        pair = (event.event_id, config.name)
        stored = await self._settle_claim(event, ch, pair)
        if stored is not None:
            return stored
        self._inflight.add(pair)
        try:
            result = await self._decide_and_call(event, ch, allocated, stamp)
            await self._store_result(result)
        finally:
            self._inflight.discard(pair)
        return self._count(result)

    async def _settle_claim(self, event: InferenceEvent, ch: ActiveChallenger, pair: tuple[str, str]
                            ) -> ShadowResult | None:
        """None once the pair is ours to decide; otherwise the result already stored for it."""
        deadline = time.monotonic() + 600
        for delay in doubling_delays(0.05, 1.0):
            outcome, value = await self._claims.claim(event.event_id, ch.config.name)
            self.metrics.claims.labels(outcome.value).inc()
            if outcome is ClaimOutcome.CLAIMED:
                return None
            if outcome is ClaimOutcome.DONE:
                assert isinstance(value, ShadowResult)
                return value
            owner = str(value)
            if outcome is ClaimOutcome.IN_FLIGHT and owner == self._claims.worker_id and pair not in self._inflight:
                return None  # our own claim from a batch that failed before calling: still ours
            if outcome is ClaimOutcome.ORPHANED or time.monotonic() > deadline:
                settled = await self._claims.abandon(owner, abandoned_result(
                    event, ch.config.name, ch.config.model, ch.config.control, owner))
                if settled is not None:
                    log.warning("event %s for %s was claimed by worker %s, which died: settled as abandoned",
                                event.event_id, ch.config.name, owner)
                    return self._count(settled)
                continue  # someone else settled it: read what they stored
            await asyncio.sleep(delay)  # a live worker is calling: its result will be there soon
        raise AssertionError("doubling_delays never ends")

    async def _decide_and_call(self, event: InferenceEvent, ch: ActiveChallenger, allocated: bool, stamp: float
                               ) -> ShadowResult:
        s, name = self._settings, ch.config.name
        if not allocated:
            return ch.client.result(event, ShadowStatus.SKIPPED_BUDGET,
                                    error=f"not allocated: {s.replay_allocation} split of the shared budget")
        if not ch.breaker.allow():
            return ch.client.result(event, ShadowStatus.CIRCUIT_OPEN,
                                    error=f"circuit open after {s.breaker_failure_threshold} failures")
        max_wait = None if s.replay_lag_budget_s == 0 else max(0.0, s.replay_lag_budget_s - (time.time() - stamp))
        local_pause = max(0.0, ch.paused_until - time.monotonic())
        if max_wait is not None and local_pause > max_wait:
            ch.breaker.release_probe()
            return ch.client.result(event, ShadowStatus.SKIPPED_RATE_LIMITED,
                                    error=f"provider asked to wait {local_pause:.1f}s, over the lag budget")
        estimate = ch.client.estimate_cost(event)
        admission = await self._limiter.admit(name, ch.limits, None if max_wait is None else max_wait - local_pause,
                                              estimate)
        if admission.outcome is AdmissionOutcome.RATE_LIMITED:
            ch.breaker.release_probe()
            return ch.client.result(event, ShadowStatus.SKIPPED_RATE_LIMITED,
                                    error=f"next slot in {admission.wait_s:.1f}s, over the lag budget "
                                          f"({s.replay_lag_budget_s}s)")
        if admission.outcome is not AdmissionOutcome.ADMITTED:
            ch.breaker.release_probe()
            which = "shared" if admission.outcome is AdmissionOutcome.OVER_SHARED_BUDGET else "challenger"
            return ch.client.result(event, ShadowStatus.SKIPPED_BUDGET, error=f"{which} spend budget exhausted")
        wait = admission.wait_s + local_pause
        self.metrics.limiter_wait.labels(name).observe(wait)
        if wait > 0:
            await asyncio.sleep(wait)  # slow down, do not drop: the slot is booked
        if ch.breaker.state is BreakerState.OPEN:  # it opened while we waited
            await self._limiter.settle(name, ch.limits, admission.reserved_usd, 0.0)
            return ch.client.result(event, ShadowStatus.CIRCUIT_OPEN, error="circuit opened while waiting")
        async with self._slots:
            outcome = await ch.client.call(event)
        self.metrics.attempts.labels(name).inc(outcome.attempts)
        if outcome.provider_fault:
            ch.breaker.record_failure()
        elif outcome.result.status is ShadowStatus.OK:
            ch.breaker.record_success()
        else:
            ch.breaker.release_probe()
        self._watch_breaker(ch)
        if outcome.retry_after_s:
            self.metrics.retry_after.labels(name).inc()
            ch.paused_until = max(ch.paused_until, time.monotonic() + outcome.retry_after_s)
            if ch.limits.rate_rps is not None:
                await self._limiter.penalize(name, outcome.retry_after_s)
        cost = outcome.result.cost_usd or 0.0
        await self._limiter.settle(name, ch.limits, admission.reserved_usd, cost)
        self.metrics.spend.labels(name).inc(cost)
        if outcome.result.latency_ms is not None and outcome.result.status is ShadowStatus.OK:
            self.metrics.latency.labels(name).observe(outcome.result.latency_ms / 1000)
        return outcome.result

    def _watch_breaker(self, ch: ActiveChallenger) -> None:
        name = ch.config.name
        self.metrics.breaker_state.labels(name).set(_BREAKER_GAUGE[ch.breaker.state])
        if ch.breaker.opened_count > ch.opened_seen:
            self.metrics.breaker_opened.labels(name).inc(ch.breaker.opened_count - ch.opened_seen)
            log.warning("circuit breaker of %s opened (%d consecutive failures); probing again in %.1fs",
                        name, self._settings.breaker_failure_threshold, self._settings.breaker_open_s)
            ch.opened_seen = ch.breaker.opened_count

    def _count(self, result: ShadowResult) -> ShadowResult:
        self.metrics.calls.labels(result.challenger, result.status.value).inc()
        return result

    async def _store_result(self, result: ShadowResult) -> None:
        # The call is paid for: keep trying to record it, or a retry of this batch would find the pair
        # pending and settle it as abandoned.
        await retry_forever(lambda: self._claims.complete(result),  # a Redis outage: retriable by nature
                            f"storing the result of {result.event.event_id}/{result.challenger} in Redis",
                            first_s=0.2, cap_s=10.0, logger=log)
