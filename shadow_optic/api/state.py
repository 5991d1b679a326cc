"""The clients the API owns for its lifetime (opened and closed by the app's lifespan), and helpers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, TypeVar

import httpx
import redis
import redis.asyncio as aioredis
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from analytics.champion import ChampionRegistry
from analytics.cost_budget import CostBudgetStore
from analytics.drift_cache import DriftCache
from analytics.rollout import RolloutStore
from infra.redis_clients import redis_options
from schemas.errors import ConfigError
from schemas.settings import Settings
from stream_agents.allowed_hosts import AllowedHosts
from stream_agents.registry import ChallengerRegistry, registry_prefix

__all__ = ["ApiState", "api_state"]

T = TypeVar("T")


class ApiState:
    def __init__(self, settings: Settings) -> None:
        if not (settings.clickhouse_url and settings.redis_url):
            raise ConfigError("the API needs SHADOW_CLICKHOUSE_URL and SHADOW_REDIS_URL (or `shadow-optic stack up`)")
        self.settings = settings
        self.clickhouse: Any = None
        # chDB runs in this process and is not safe for concurrent queries; a server over HTTP is.
        self._ch_lock = threading.Lock() if settings.clickhouse_url.startswith("chdb:") else None
        self.redis = aioredis.Redis.from_url(settings.redis_url, **redis_options(settings.redis_url, settings.redis_security))
        self.challengers = ChallengerRegistry(self.redis, registry_prefix(settings.topic_prefix),
                                              AllowedHosts.from_settings(settings))
        # analytics' champion registry is synchronous (WATCH/MULTI); it runs in the threadpool with ClickHouse.
        self._sync_redis = redis.Redis.from_url(settings.redis_url, decode_responses=True,
                                                **redis_options(settings.redis_url, settings.redis_security))
        self.champions = ChampionRegistry(self._sync_redis, settings.champion_key_prefix)
        self.rollouts = RolloutStore(self._sync_redis, settings.champion_key_prefix)
        self.cost_budgets = CostBudgetStore(self._sync_redis, settings.champion_key_prefix)
        self.http = httpx.AsyncClient(timeout=10.0)
        self.drift_cache = DriftCache()  # repeated drift queries recompute only open or late-touched windows
        self._lag_monitor: Any = None
        self._lag_lock = threading.Lock()  # one AdminClient + probe consumer, one reader at a time
        self._feedback_producer: Any = None  # made on the first rating
        self._feedback_lock = threading.Lock()

    async def open(self) -> "ApiState":
        from infra.clickhouse import connect

        self.clickhouse = await run_in_threadpool(connect, self.settings.clickhouse_url,
                                                    self.settings.clickhouse_security)
        return self

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        self._sync_redis.close()
        if self._lag_monitor is not None:
            self._lag_monitor.close()
        if self._feedback_producer is not None:
            self._feedback_producer.flush(5)
        if self.clickhouse is not None:
            self.clickhouse.close()

    async def ch(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a synchronous analytics call (ClickHouse, sync Redis) off the event loop."""
        def call() -> T:
            with self._ch_lock or nullcontext():
                return fn(self.clickhouse, *args, **kwargs)
        return await run_in_threadpool(call)

    async def lag(self, fn: Callable[[Any], T]) -> T:
        """Run `fn(LagMonitor)` off the event loop; the monitor is made on first use."""
        def call() -> T:
            from analytics.lag import LagMonitor

            with self._lag_lock:
                if self._lag_monitor is None:
                    if not self.settings.kafka_bootstrap:
                        raise ConfigError("no Kafka configured (SHADOW_KAFKA_BOOTSTRAP): lag cannot be read")
                    self._lag_monitor = LagMonitor(self.settings.kafka_bootstrap,
                                                      security=self.settings.kafka_security)
                return fn(self._lag_monitor)
        return await run_in_threadpool(call)

    async def publish_feedback(self, record: Any) -> None:
        """Send one OutcomeFeedback to shadow.feedback and wait until Kafka has it (the worker stores it)."""
        def call() -> None:
            from confluent_kafka import Producer

            from schemas.errors import StoreUnavailableError
            from schemas.events import check_feedback
            from infra.kafka_clients import ensure_topics, kafka_config

            check_feedback(record)
            topic = self.settings.topics.feedback
            with self._feedback_lock:
                if self._feedback_producer is None:
                    if not self.settings.kafka_bootstrap:
                        raise ConfigError("no Kafka configured (SHADOW_KAFKA_BOOTSTRAP): ratings cannot be sent")
                    security = self.settings.kafka_security
                    ensure_topics(self.settings.kafka_bootstrap, [topic], self.settings.topic_partitions,
                                  security=security)
                    self._feedback_producer = Producer(kafka_config(self.settings.kafka_bootstrap, security,
                                                                    {"linger.ms": 0, "message.timeout.ms": 10_000}))
                failures: list[str] = []
                self._feedback_producer.produce(
                    topic, key=record.event_id.encode(), value=record.model_dump_json().encode(),
                    on_delivery=lambda err, _msg: failures.append(str(err)) if err else None)
                if self._feedback_producer.flush(15) != 0 or failures:
                    raise StoreUnavailableError(f"the rating was not delivered to {topic}: "
                                                f"{failures[0] if failures else 'Kafka did not answer in 15 s'}")
        await run_in_threadpool(call)

    def app_name(self, app: str | None) -> str:
        return self.settings.app_name if app is None else app


def api_state(request: Request) -> ApiState:
    return request.app.state.api
