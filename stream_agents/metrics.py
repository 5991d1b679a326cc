"""Prometheus metrics of one worker, in their own registry (so several apps in a process never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["WorkerMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter("shadow_replay_results", "results per challenger and status", ["challenger", "status"],
                             registry=r)
        self.attempts = Counter("shadow_replay_attempts", "HTTP requests sent to a challenger (retries included)",
                                ["challenger"], registry=r)
        self.latency = Histogram("shadow_replay_latency_seconds", "challenger call latency (answered calls)",
                                 ["challenger"], buckets=_LATENCY_BUCKETS, registry=r)
        self.limiter_wait = Histogram("shadow_replay_limiter_wait_seconds", "wait for a rate-limit slot",
                                      ["challenger"], buckets=_LATENCY_BUCKETS, registry=r)
        self.spend = Counter("shadow_replay_spend_usd", "challenger spend (USD)", ["challenger"], registry=r)
        self.retry_after = Counter("shadow_replay_retry_after", "429/Retry-After answers seen", ["challenger"],
                                   registry=r)
        self.breaker_state = Gauge("shadow_breaker_state", "0 closed, 1 half-open, 2 open", ["challenger"],
                                   registry=r)
        self.breaker_opened = Counter("shadow_breaker_opened", "times the breaker opened", ["challenger"],
                                      registry=r)
        self.claims = Counter("shadow_claims", "claim outcomes (claimed, done, in_flight, orphaned)", ["outcome"],
                              registry=r)
        self.outside_allowed_hosts = Counter(
            "shadow_challenger_outside_allowed_hosts", "registry loads that skipped a challenger outside "
            "SHADOW_CHALLENGER_ALLOWED_HOSTS (it is never called)", ["challenger"], registry=r)
        self.challengers = Gauge("shadow_registry_challengers", "challengers this worker follows", registry=r)
        self.registry_version = Gauge("shadow_registry_version", "registry version this worker follows",
                                      registry=r)
        self.dead_letters = Counter("shadow_dead_letters", "messages sent to the DLQ", ["stage"], registry=r)
        self.processed = Counter("shadow_stage_messages", "messages consumed per stage", ["stage"], registry=r)
        self.sink_rows = Counter("shadow_sink_rows", "rows inserted into ClickHouse", registry=r)
        self.sink_failures = Counter("shadow_sink_failed_inserts", "failed ClickHouse inserts", registry=r)
        self.sink_stalled = Gauge("shadow_sink_stalled_seconds", "how long the sink has been failing", registry=r)
        self.redis_errors = Counter("shadow_redis_errors", "replay batches retried because Redis failed",
                                    registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
