"""The Faust app: replay -> scoring -> sink, each an agent on its own topic.

Made by create_app(settings); nothing is created at import time. Every agent takes batches
(`take_events`), so offsets are acked only after the batch's output is delivered (replay, scoring)
or inserted (sink). Anything undecodable goes to the dead-letter topic and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import faust
import httpx
import redis.asyncio as aioredis
from faust.types import EventT

from schemas.clickhouse import connect
from schemas.dead_letter import DeadLetter
from schemas.errors import ConfigError, InvalidEventError
from schemas.events import InferenceEvent, ScoredRecord, ShadowResult
from schemas.settings import Settings
from stream_agents.challenger_client import ChallengerClient
from stream_agents.claims import ClaimStore
from stream_agents.decoding import decode
from stream_agents.replay import ReplayStage
from stream_agents.scoring.record import score_result
from stream_agents.sink import ScoreSink

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _require(settings: Settings) -> tuple[str, str, str]:
    if not (settings.kafka_bootstrap and settings.redis_url and settings.clickhouse_url):
        raise ConfigError("the worker needs SHADOW_KAFKA_BOOTSTRAP, SHADOW_REDIS_URL and SHADOW_CLICKHOUSE_URL "
                          "(or a running `shadow-optic stack up`)")
    if not settings.challengers:
        raise ConfigError('no challengers: set SHADOW_CHALLENGERS=\'[{"name": "...", "base_url": '
                          '"http://host/v1", "model": "..."}]\'')
    return settings.kafka_bootstrap, settings.redis_url, settings.clickhouse_url


def create_app(settings: Settings) -> faust.App:
    bootstrap, redis_url, clickhouse_url = _require(settings)
    topics = settings.topics
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{bootstrap}",
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        web_enabled=settings.worker_web_port != 0,
        web_port=settings.worker_web_port or 6066,
        web_host="127.0.0.1",
        # Measured on this machine kind (DESIGN.md): +30 % and far less broker CPU.
        producer_linger=0.005,
        consumer_max_fetch_size=8 * 1024 * 1024,
        broker_max_poll_records=2000,
        consumer_auto_offset_reset="earliest",
    )

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         partitions=settings.topic_partitions)

    requests_topic, results_topic = topic(topics.requests), topic(topics.results)
    scored_topic, dlq_topic = topic(topics.scored), topic(topics.dlq)

    async def dead_letter(event: EventT, stage: str, reason: str) -> Any:
        message = event.message
        letter = DeadLetter(stage=stage, reason=reason, topic=message.topic, partition=message.partition,
                            offset=message.offset, key_b64=DeadLetter.encode(message.key) if message.key else None,
                            value_b64=DeadLetter.encode(message.value), ts=datetime.now(UTC))
        log.warning("dead letter from %s[%d]@%d: %s", message.topic, message.partition, message.offset, reason)
        return await dlq_topic.send(key=message.key, value=letter.model_dump_json().encode())

    def decoded(events: list[EventT], model: type, stage: str, pending: list) -> list:
        good = []
        for event in events:
            try:
                good.append(decode(event.message.value, model, settings.max_event_bytes))
            except InvalidEventError as exc:
                pending.append(dead_letter(event, stage, str(exc)))
        return good

    async def deliver(sends: list) -> None:
        """Wait until Kafka has every message of the batch, so that acking the inputs loses nothing."""
        futures = await asyncio.gather(*sends)
        await asyncio.gather(*futures)

    async def replay_until_done(stage: ReplayStage, events: list[InferenceEvent]) -> list[ShadowResult]:
        """Retry the batch while Redis is unreachable; claims make the retry call nobody twice."""
        backoff = 0.5
        while True:
            try:
                return await stage.replay(events)
            except Exception as exc:
                log.error("replay of %d events failed (retry in %.1fs): %r", len(events), backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    @app.agent(requests_topic, name="replay")
    async def replay_agent(stream: faust.StreamT) -> None:
        limits = httpx.Limits(max_connections=settings.replay_concurrency * 2)
        # A blocking pool: a burst of claims waits for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=30)
        async with httpx.AsyncClient(limits=limits) as http, aioredis.Redis(connection_pool=pool) as redis:
            stage = ReplayStage([ChallengerClient(c, http) for c in settings.challengers],
                                ClaimStore(redis, prefix=f"{settings.topic_prefix}shadow"),
                                settings.replay_concurrency)
            async for batch in stream.take_events(settings.replay_batch_size, within=0.5):
                sends: list = []
                events = decoded(batch, InferenceEvent, "replay", sends)
                results = await replay_until_done(stage, events)
                sends.extend(results_topic.send(key=r.event.event_id.encode(), value=r.model_dump_json().encode())
                             for r in results)
                await deliver(sends)

    @app.agent(results_topic, name="scoring")
    async def scoring_agent(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(500, within=0.5):
            sends: list = []
            for event in batch:
                try:
                    result = decode(event.message.value, ShadowResult, settings.max_event_bytes)
                    record = score_result(result, settings.price_of(result.event.production_model))
                except InvalidEventError as exc:
                    sends.append(dead_letter(event, "scoring", str(exc)))
                    continue
                except Exception as exc:  # a scorer bug must not stop the stream
                    log.exception("scoring failed")
                    sends.append(dead_letter(event, "scoring", f"scoring failed: {exc!r}"))
                    continue
                sends.append(scored_topic.send(key=event.message.key, value=record.model_dump_json().encode()))
            await deliver(sends)

    @app.agent(scored_topic, name="sink")
    async def sink_agent(stream: faust.StreamT) -> None:
        sink = ScoreSink(lambda: connect(clickhouse_url))
        try:
            async for batch in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
                sends: list = []
                records = decoded(batch, ScoredRecord, "sink", sends)
                await sink.write(records)  # returns only once ClickHouse has the rows
                await deliver(sends)
        finally:
            sink.close()

    return app
