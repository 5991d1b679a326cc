"""The Faust app: replay -> scoring -> sink, each an agent on its own topic.

By default (SHADOW_SCORE_IN_REPLAY) the replay agent scores its batch itself and sends the records
straight to shadow.scored; the results still go to shadow.results (for `rescore` and reports),
marked scored, and the scoring agent scores only unmarked ones (backfills, inline failures).

Made by create_app(settings); nothing is created at import time. Every agent takes batches
(`take_events`), so offsets are acked only after the batch's output is delivered (replay, scoring)
or inserted (sink). Faust acks a batch even when its body raises, so every body runs under a
BatchGuard (stream_agents/batch_guard.py): retried while the error is an outage, re-run event by
event and the failing ones dead-lettered otherwise; only shutdown leaves it, with the batch's acks
withheld. Anything undecodable goes to the dead-letter topic (always in a form that fits it) and
the batch goes on.
The replay agent follows the challenger registry in Redis and keeps this worker's claims alive;
the web port serves /metrics (Prometheus) and /ready.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import Any

import faust
import httpx
import redis.asyncio as aioredis
from faust.types import EventT

from schemas.clickhouse import connect
from schemas.errors import ConfigError, InvalidEventError
from schemas.events import InferenceEvent, ScoredRecord, ShadowResult
from schemas.http_transport import AiohttpTransport
from schemas.settings import Settings
from schemas.topics import SCORED_INLINE_HEADER, was_scored_inline
from stream_agents.batch_guard import BatchGuard, GuardMetrics, describe, is_retriable, withhold_acks
from stream_agents.claims import ClaimStore
from stream_agents.dead_letters import fit_dead_letter
from stream_agents.decoding import decode
from stream_agents.evidence import EvidenceStore
from stream_agents.health import Readiness
from stream_agents.limits import RateLimiter
from stream_agents.metrics import WorkerMetrics
from stream_agents.registry import ChallengerRegistry, registry_prefix
from stream_agents.replay import ReplayStage
from stream_agents.scoring.embeddings import EmbeddingError
from stream_agents.scoring.scorer import Scorer
from stream_agents.sink import ScoreSink

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _require(settings: Settings) -> tuple[str, str, str]:
    if not (settings.kafka_bootstrap and settings.redis_url and settings.clickhouse_url):
        raise ConfigError("the worker needs SHADOW_KAFKA_BOOTSTRAP, SHADOW_REDIS_URL and SHADOW_CLICKHOUSE_URL "
                          "(or a running `shadow-optic stack up`)")
    return settings.kafka_bootstrap, settings.redis_url, settings.clickhouse_url


def create_app(settings: Settings) -> faust.App:
    bootstrap, redis_url, clickhouse_url = _require(settings)
    topics = settings.topics
    faust_dir = settings.state_dir / "faust"
    faust_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.consumer_group,
        broker=f"kafka://{bootstrap}",
        # Faust's own table store; by default it lands in the working directory as `<app>-data/`.
        datadir=str(faust_dir / settings.consumer_group),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        web_enabled=settings.worker_web_port != 0,
        web_port=settings.worker_web_port or 6066,
        web_host="127.0.0.1",
        # Measured on this machine kind (DESIGN.md): +30 % and far less broker CPU.
        producer_linger=0.005,
        consumer_max_fetch_size=8 * 1024 * 1024,
        broker_max_poll_records=10000,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
    )

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         partitions=settings.topic_partitions)

    requests_topic, results_topic = topic(topics.requests), topic(topics.results)
    scored_topic, dlq_topic = topic(topics.scored), topic(topics.dlq)

    metrics, readiness = WorkerMetrics(), Readiness()
    guard_metrics = GuardMetrics(metrics.registry)
    # A dead letter must fit what the producer sends and what the pipeline accepts as a message.
    letter_max_bytes = min(settings.max_event_bytes, app.conf.producer_max_request_size)
    # Letters of recent origins, sent or being sent: a retried batch waits for the same one, never sends two.
    lettered: OrderedDict[tuple[str, int, int], asyncio.Task] = OrderedDict()
    prefix = registry_prefix(settings.topic_prefix)
    app.shadow_metrics, app.shadow_readiness = metrics, readiness  # for tests and embedding code

    def redis_client() -> aioredis.Redis:
        # A blocking pool: a burst of claims waits for a connection instead of failing.
        pool = aioredis.BlockingConnectionPool.from_url(redis_url, max_connections=64, timeout=30,
                                                        socket_timeout=10, socket_connect_timeout=5)
        return aioredis.Redis(connection_pool=pool)

    async def dead_letter(event: EventT, stage: str, reason: str) -> None:
        """Send the letter and wait until Kafka has it; never raises (but CancelledError)."""
        message = event.message
        origin = (message.topic, message.partition, message.offset)
        if origin not in lettered:
            lettered[origin] = asyncio.create_task(send_letter(event, stage, reason))
            while len(lettered) > 10_000:
                lettered.popitem(last=False)
        await asyncio.shield(lettered[origin])  # a cancelled batch must not cancel a letter half-sent

    async def send_letter(event: EventT, stage: str, reason: str) -> None:
        """Retried (and counted) until Kafka has the letter. A letter Kafka refuses as such (e.g. a
        broker limit below ours) is rebuilt to half the size: origin, size and sha256 always fit."""
        message = event.message
        origin = (message.topic, message.partition, message.offset)
        max_bytes, backoff = letter_max_bytes, 0.5
        log.warning("dead letter from %s[%d]@%d: %s", *origin, reason[:500])
        while True:
            key, value = fit_dead_letter(stage=stage, reason=reason, topic=message.topic,
                                         partition=message.partition, offset=message.offset, key=message.key,
                                         value=message.value, max_bytes=max_bytes, ts=datetime.now(UTC))
            try:
                await (await dlq_topic.send(key=key, value=value))
                break
            except Exception as exc:  # CancelledError passes: shutdown
                guard_metrics.dead_letter_send_failures.labels(stage).inc()
                if not is_retriable(exc):
                    max_bytes = max(1024, max_bytes // 2)
                log.error("dead letter from %s[%d]@%d not sent (retry in %.1fs): %s", *origin, backoff,
                          describe(exc))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
        metrics.dead_letters.labels(stage).inc()

    def guard(stage: str, body: Any) -> BatchGuard[EventT]:
        return BatchGuard(stage, body, lambda event, reason: dead_letter(event, stage, reason), guard_metrics)

    async def guarded(batch_guard: BatchGuard[EventT], batch: Any) -> None:
        try:
            await batch_guard.process(list(batch))
        except BaseException:
            # Shutdown mid-batch (or a guard bug): Faust's finally would ack events never processed.
            withhold_acks(batch)
            raise

    def decoded(events: list[EventT], model: type, stage: str, pending: list, stamps: list | None = None) -> list:
        good = []
        for event in events:
            try:
                good.append(decode(event.message.value, model, settings.max_event_bytes))
            except InvalidEventError as exc:
                pending.append(dead_letter(event, stage, str(exc)))
                continue
            if stamps is not None:
                stamps.append(event.message.timestamp or 0.0)
        metrics.processed.labels(stage).inc(len(events))
        return good

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

    async def until_done(what: str, action: Any) -> Any:
        """Retry while Redis is unreachable (fail closed: no admission, no call); claims make retries safe."""
        backoff = 0.5
        while True:
            try:
                return await action()
            except Exception as exc:
                log.error("%s failed (retry in %.1fs): %r", what, backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def follow(stage: ReplayStage, claims: ClaimStore, registry: ChallengerRegistry,
                     evidence: EvidenceStore) -> None:
        """Heartbeat of our claims, registry changes and allocation evidence, for as long as replay runs."""
        version, last_registry, last_evidence = readiness.registry_version, 0.0, 0.0
        while True:
            try:
                await claims.beat()
                readiness.last_redis_ok = time.monotonic()
                now = time.monotonic()
                if now - last_registry >= settings.registry_refresh_s:
                    last_registry = now
                    if await registry.version() != version:
                        version, configs = await registry.load()
                        stage.set_challengers(configs)
                        readiness.registry_version, readiness.challengers = version, len(configs)
                        metrics.registry_version.set(version)
                        log.info("following challenger registry v%d: %s", version,
                                 ", ".join(c.name for c in configs) or "(none)")
                if settings.replay_allocation == "thompson" and now - last_evidence >= 5.0:
                    last_evidence = now
                    stage.evidence = await evidence.load()
            except Exception as exc:
                log.error("Redis unreachable from the replay agent: %r", exc)
            await asyncio.sleep(min(settings.worker_heartbeat_s, settings.registry_refresh_s))

    @app.agent(requests_topic, name="replay")
    async def replay_agent(stream: faust.StreamT) -> None:
        # httpx API, aiohttp engine: httpx's own pool costs CPU per call that grows with concurrency
        # (schemas/http_transport.py has the figures).
        transport = AiohttpTransport(max_connections=settings.replay_concurrency * 2)
        async with httpx.AsyncClient(transport=transport) as http, redis_client() as redis, \
                (Scorer(settings) if settings.score_in_replay else nullcontext()) as scorer:
            claims = ClaimStore(redis, prefix=prefix, ttl_s=settings.claim_ttl_s,
                                liveness_s=max(3.0, 4 * settings.worker_heartbeat_s))
            registry = ChallengerRegistry(redis, prefix)
            evidence = EvidenceStore(redis, prefix, settings.replay_pass_similarity)
            stage = ReplayStage(settings, http, claims, RateLimiter(redis, prefix), metrics)

            async def start() -> None:
                await claims.beat()  # alive before the first claim
                await registry.seed(settings.challengers)
                version, configs = await registry.load()
                stage.set_challengers(configs)
                readiness.registry_version, readiness.challengers = version, len(configs)
                readiness.last_redis_ok = time.monotonic()
                metrics.registry_version.set(version)

            async def replay_batch(batch: list[EventT]) -> None:
                sends: list = []
                stamps: list[float] = []
                events = decoded(batch, InferenceEvent, "replay", sends, stamps)
                results = await until_done(f"replay of {len(events)} events", lambda: stage.replay(events, stamps))
                scored = await score_until_done(scorer, results) if scorer else [None] * len(results)
                records = []
                for result, record in zip(results, scored):
                    key = result.event.event_id.encode()
                    inline = isinstance(record, ScoredRecord)
                    # A result the inline scorer failed on goes out unmarked: the scoring agent
                    # tries it again and dead-letters it with the original bytes if it fails too.
                    sends.append(results_topic.send(key=key, value=result.model_dump_json().encode(),
                                                    headers={SCORED_INLINE_HEADER: b"1"} if inline else None))
                    if inline:
                        records.append(record)
                        sends.append(scored_topic.send(key=key, value=record.model_dump_json().encode()))
                    elif record is not None:
                        log.error("inline scoring failed for %s, left to the scoring agent: %r", key, record)
                await deliver(sends)
                if records:
                    metrics.processed.labels("scoring").inc(len(records))
                    await record_evidence(evidence, records)

            await until_done("loading the challenger registry", start)
            follower = asyncio.create_task(follow(stage, claims, registry, evidence))
            replay_guard = guard("replay", replay_batch)
            readiness.agents_started.add("replay")
            try:
                async for batch in stream.take_events(settings.replay_batch_size, within=settings.stage_batch_seconds):
                    await guarded(replay_guard, batch)
            finally:
                readiness.agents_started.discard("replay")
                follower.cancel()
                stage.close()

    async def record_evidence(evidence: EvidenceStore, records: list[ScoredRecord]) -> None:
        if settings.replay_allocation != "thompson":
            return
        try:  # evidence steers spend, it is not data: a Redis hiccup only costs a little of it
            await evidence.record(records)
        except Exception as exc:
            log.warning("could not record allocation evidence: %r", exc)

    async def score_until_done(scorer: Scorer, results: list[ShadowResult]) -> list[ScoredRecord | Exception]:
        """Retry while the embeddings endpoint is down: rows are never written under another method."""
        prices = [settings.price_of(r.event.production_model) for r in results]
        backoff = 0.5
        while True:
            try:
                return await scorer.score_batch(results, prices)
            except EmbeddingError as exc:
                log.error("scoring a batch of %d failed (retry in %.1fs): %r", len(results), backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    @app.agent(results_topic, name="scoring")
    async def scoring_agent(stream: faust.StreamT) -> None:
        async with redis_client() as redis, Scorer(settings) as scorer:
            evidence = EvidenceStore(redis, prefix, settings.replay_pass_similarity)

            async def score_batch(batch: list[EventT]) -> None:
                sends: list = []
                decoded_pairs: list[tuple[EventT, ShadowResult]] = []
                for event in batch:
                    if was_scored_inline(event.message.headers):
                        continue  # the replay agent scored it already
                    try:
                        decoded_pairs.append((event, decode(event.message.value, ShadowResult,
                                                            settings.max_event_bytes)))
                    except InvalidEventError as exc:
                        sends.append(dead_letter(event, "scoring", str(exc)))
                results = [result for _event, result in decoded_pairs]
                scored = await score_until_done(scorer, results)
                records: list[ScoredRecord] = []
                for (event, _result), record in zip(decoded_pairs, scored):
                    if isinstance(record, Exception):  # a scorer bug on one item must not stop the stream
                        log.error("scoring failed for %s: %s", event.message.key, describe(record))
                        sends.append(dead_letter(event, "scoring", f"scoring failed: {describe(record)}"))
                        continue
                    records.append(record)
                    sends.append(scored_topic.send(key=event.message.key, value=record.model_dump_json().encode()))
                metrics.processed.labels("scoring").inc(len(decoded_pairs))
                await deliver(sends)
                await record_evidence(evidence, records)

            scoring_guard = guard("scoring", score_batch)
            readiness.agents_started.add("scoring")
            async for batch in stream.take_events(500, within=settings.stage_batch_seconds):
                await guarded(scoring_guard, batch)

    @app.agent(scored_topic, name="sink")
    async def sink_agent(stream: faust.StreamT) -> None:
        sink = ScoreSink(lambda: connect(clickhouse_url))
        app.shadow_sink = sink

        async def sink_batch(batch: list[EventT]) -> None:
            sends: list = []
            records = decoded(batch, ScoredRecord, "sink", sends)
            await sink.write(records)  # returns only once ClickHouse has the rows
            metrics.sink_rows.inc(len(records))
            await deliver(sends)

        sink_guard = guard("sink", sink_batch)
        readiness.agents_started.add("sink")
        try:
            async for batch in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
                await guarded(sink_guard, batch)
        finally:
            sink.close()

    failures_seen = [0]

    @app.timer(1.0)
    async def refresh_gauges() -> None:
        sink = getattr(app, "shadow_sink", None)
        if sink is not None:
            if sink.failed_attempts > failures_seen[0]:
                metrics.sink_failures.inc(sink.failed_attempts - failures_seen[0])
                failures_seen[0] = sink.failed_attempts
            readiness.sink_stalled_since = sink.stalled_since
            metrics.sink_stalled.set(0 if sink.stalled_since is None else time.monotonic() - sink.stalled_since)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        ready, report = readiness.report()
        return web.json(report, status=200 if ready else 503)

    return app
