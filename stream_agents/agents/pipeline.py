"""What the three agents of one worker share: their topics, metrics and readiness, the dead-letter
path, decoding, delivery, and the guarded batch loop every agent runs.

Every agent takes batches (`take_events`), so offsets are acked only after the batch's output is
delivered (replay, scoring) or inserted (sink). Faust acks a batch even when its body raises, so
every body runs under a BatchGuard (stream_agents/batch_guard.py): retried while the error is an
outage, re-run event by event and the failing ones dead-lettered otherwise; only shutdown leaves
it, with the batch's acks withheld. Anything undecodable goes to the dead-letter topic (always in a
form that fits it) and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import redis.asyncio as aioredis
from faust.types import EventT
from pydantic import BaseModel

from infra.redis_clients import redis_options
from schemas.errors import ConfigError, InvalidEventError
from schemas.settings import ConnectionSettings, WorkerSettings
from stream_agents.batch_guard import BatchGuard, GuardMetrics, is_retriable, withhold_acks
from stream_agents.dead_letters import fit_dead_letter
from stream_agents.decoding import decode
from stream_agents.health import Readiness
from stream_agents.metrics import WorkerMetrics
from stream_agents.registry import registry_prefix
from stream_agents.retry import retry_forever

__all__ = ["Pipeline", "deliver", "require_services"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
BatchBody = Callable[[list[EventT]], Awaitable[None]]


def require_services(connections: ConnectionSettings) -> tuple[str, str, str]:
    """Kafka bootstrap, Redis URL and ClickHouse URL, or a ConfigError saying which variables to set."""
    if not (connections.kafka_bootstrap and connections.redis_url and connections.clickhouse_url):
        raise ConfigError("the worker needs SHADOW_KAFKA_BOOTSTRAP, SHADOW_REDIS_URL and SHADOW_CLICKHOUSE_URL "
                          "(or a running `shadow-optic stack up`)")
    return connections.kafka_bootstrap, connections.redis_url, connections.clickhouse_url


async def deliver(sends: list) -> None:
    """Wait until Kafka has every message of the batch, so that acking the inputs loses nothing."""
    # Every send settles before a failure is raised: none is left running beside the batch's retry.
    futures = await asyncio.gather(*sends, return_exceptions=True)
    failed = [f for f in futures if isinstance(f, BaseException)]
    pending = [f for f in futures if f is not None and not isinstance(f, BaseException)]  # None: a letter
    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    failed += [o for o in outcomes if isinstance(o, BaseException)]
    if failed:
        raise failed[0]


class Pipeline:
    """Built once per worker by `create_app`; each agent module takes it and reads what it needs."""

    def __init__(self, app: faust.App, connections: ConnectionSettings, worker: WorkerSettings) -> None:
        self.app = app
        self.connections, self.worker = connections, worker
        self.redis_url = require_services(connections)[1]
        self.prefix = registry_prefix(connections.topic_prefix)
        names = connections.topics
        self.requests, self.results = self._topic(names.requests), self._topic(names.results)
        self.scored, self.dlq = self._topic(names.scored), self._topic(names.dlq)
        self.feedback = self._topic(names.feedback)
        self.metrics, self.readiness = WorkerMetrics(), Readiness()
        self.guard_metrics = GuardMetrics(self.metrics.registry)
        # A dead letter must fit what the producer sends and what the pipeline accepts as a message.
        self.letter_max_bytes = min(worker.max_event_bytes, app.conf.producer_max_request_size)
        # Letters of recent origins, sent or being sent: a retried batch waits for the same one, never sends two.
        self._lettered: OrderedDict[tuple[str, int, int], asyncio.Task] = OrderedDict()

    def _topic(self, name: str) -> faust.TopicT:
        return self.app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                              partitions=self.connections.topic_partitions)

    def redis_client(self) -> aioredis.Redis:
        # A blocking pool: a burst of claims waits for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(self.redis_url, max_connections=64, timeout=30,
                                                        socket_timeout=10, socket_connect_timeout=5,
                                                        **redis_options(self.redis_url, self.connections.redis_security))
        return aioredis.Redis(connection_pool=pool)

    # --- dead letters ------------------------------------------------------------------------------

    async def dead_letter(self, event: EventT, stage: str, reason: str) -> None:
        """Send the letter and wait until Kafka has it; never raises (but CancelledError)."""
        message = event.message
        origin = (message.topic, message.partition, message.offset)
        if origin not in self._lettered:
            self._lettered[origin] = asyncio.create_task(self._send_letter(event, stage, reason))
            while len(self._lettered) > 10_000:
                self._lettered.popitem(last=False)
        await asyncio.shield(self._lettered[origin])  # a cancelled batch must not cancel a letter half-sent

    async def _send_letter(self, event: EventT, stage: str, reason: str) -> None:
        """Retried (and counted) until Kafka has the letter. A letter Kafka refuses as such (e.g. a
        broker limit below ours) is rebuilt to half the size: origin, size and sha256 always fit."""
        message = event.message
        origin = (message.topic, message.partition, message.offset)
        max_bytes = self.letter_max_bytes
        log.warning("dead letter from %s[%d]@%d: %s", *origin, reason[:500])

        async def send() -> None:
            key, value = fit_dead_letter(stage=stage, reason=reason, topic=message.topic,
                                         partition=message.partition, offset=message.offset, key=message.key,
                                         value=message.value, max_bytes=max_bytes, ts=datetime.now(UTC))
            await (await self.dlq.send(key=key, value=value))

        def refused(exc: BaseException) -> None:
            nonlocal max_bytes
            self.guard_metrics.dead_letter_send_failures.labels(stage).inc()
            if not is_retriable(exc):
                max_bytes = max(1024, max_bytes // 2)

        await retry_forever(send, "sending the dead letter from {}[{}]@{}".format(*origin), on_failure=refused,
                            logger=log)  # CancelledError passes: shutdown
        self.metrics.dead_letters.labels(stage).inc()

    # --- decoding ----------------------------------------------------------------------------------

    def decode(self, event: EventT, model: type[M]) -> M:
        """The message as `model`, or InvalidEventError saying what was wrong."""
        return decode(event.message.value, model, self.worker.max_event_bytes)

    def decoded(self, events: list[EventT], model: type[M], stage: str, pending: list,
                stamps: list[float] | None = None) -> list[M]:
        """The events that decode; a dead letter for each other one joins `pending` (sent with the batch)."""
        good = []
        for event in events:
            try:
                good.append(self.decode(event, model))
            except InvalidEventError as exc:
                pending.append(self.dead_letter(event, stage, str(exc)))
                continue
            if stamps is not None:
                stamps.append(event.message.timestamp or 0.0)
        self.metrics.processed.labels(stage).inc(len(events))
        return good

    # --- the batch loop ----------------------------------------------------------------------------

    async def run_batches(self, stage: str, stream: faust.StreamT, body: BatchBody, size: int,
                          within: float) -> None:
        """Take batches from `stream` and run `body` on each under a BatchGuard, for as long as the agent runs."""
        guard: BatchGuard[EventT] = BatchGuard(stage, body, lambda event, reason: self.dead_letter(event, stage, reason),
                                               self.guard_metrics)
        self.readiness.agents_started.add(stage)
        try:
            async for batch in stream.take_events(size, within=within):
                await _guarded(guard, batch)
        finally:
            self.readiness.agents_started.discard(stage)


async def _guarded(guard: BatchGuard[EventT], batch: Any) -> None:
    try:
        await guard.process(list(batch))
    except BaseException:
        # Shutdown mid-batch (or a guard bug): Faust's finally would ack events never processed.
        withhold_acks(batch)
        raise
