"""The replay agent: shadow.requests -> challenger calls (ReplayStage) -> shadow.results.

By default (SHADOW_SCORE_IN_REPLAY) it scores its batch itself and sends the records straight to
shadow.scored; the results still go to shadow.results (for `rescore` and reports), marked scored,
and the scoring agent scores only unmarked ones (backfills, inline failures). Beside the batches it
follows the challenger registry in Redis and keeps this worker's claims alive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext

import faust
import httpx
from faust.types import EventT

from infra.http_transport import AiohttpTransport
from schemas.events import InferenceEvent, ScoredRecord, ShadowResult
from schemas.settings import GatewaySettings, ModelSettings, ScoringSettings
from schemas.topics import SCORED_INLINE_HEADER
from stream_agents.agents.pipeline import Pipeline, deliver
from stream_agents.agents.scoring import record_evidence, score_until_done
from stream_agents.allowed_hosts import AllowedHosts
from stream_agents.claims import ClaimStore
from stream_agents.evidence import EvidenceStore
from stream_agents.limits import RateLimiter
from stream_agents.registry import ChallengerRegistry
from stream_agents.replay import ReplayStage
from stream_agents.retry import retry_forever
from stream_agents.scoring.scorer import Scorer

__all__ = ["replay_agent"]

log = logging.getLogger(__name__)

EVIDENCE_REFRESH_S = 5.0  # how often Thompson allocation re-reads the pass/fail evidence


def replay_agent(pipeline: Pipeline, models: ModelSettings, scoring: ScoringSettings,
                 allowed: AllowedHosts | None = None,
                 production: GatewaySettings | None = None) -> Callable[[faust.StreamT], Awaitable[None]]:
    """`allowed`: SHADOW_CHALLENGER_ALLOWED_HOSTS; a registered challenger outside it is skipped, never called.
    `production`: where the champion `production` answers, for events a canary's candidate served."""
    worker = pipeline.worker

    async def replay(stream: faust.StreamT) -> None:
        # httpx API, aiohttp engine: httpx's own pool costs CPU per call that grows with concurrency
        # (infra/http_transport.py has the figures).
        transport = AiohttpTransport(max_connections=worker.replay_concurrency * 2)
        inline = Scorer(scoring, pipeline.connections) if worker.score_in_replay else nullcontext()
        async with httpx.AsyncClient(transport=transport) as http, pipeline.redis_client() as redis, \
                inline as scorer:
            claims = ClaimStore(redis, prefix=pipeline.prefix, ttl_s=worker.claim_ttl_s,
                                liveness_s=max(3.0, 4 * worker.worker_heartbeat_s))
            registry = ChallengerRegistry(redis, pipeline.prefix)
            evidence = EvidenceStore(redis, pipeline.prefix, worker.replay_pass_similarity)
            stage = ReplayStage(worker, models, http, claims, RateLimiter(redis, pipeline.prefix), pipeline.metrics,
                                allowed=allowed, production=production)
            # Fail closed while Redis is unreachable: no admission, no call; claims make retries safe.
            await retry_forever(lambda: _start(pipeline, stage, claims, registry, models), "loading the challenger "
                                "registry", logger=log)
            follower = asyncio.create_task(_follow(pipeline, stage, claims, registry, evidence))

            async def batch_body(batch: list[EventT]) -> None:
                await _replay_batch(pipeline, stage, scorer, evidence, models, batch)

            try:
                await pipeline.run_batches("replay", stream, batch_body, worker.replay_batch_size,
                                           worker.stage_batch_seconds)
            finally:
                follower.cancel()
                stage.close()

    return replay


async def _start(pipeline: Pipeline, stage: ReplayStage, claims: ClaimStore, registry: ChallengerRegistry,
                 models: ModelSettings) -> None:
    await claims.beat()  # alive before the first claim
    await registry.seed(models.challengers)
    version, configs = await registry.load()
    _follow_version(pipeline, stage, version, configs)


def _follow_version(pipeline: Pipeline, stage: ReplayStage, version: int, configs: list) -> None:
    stage.set_challengers(configs)
    readiness = pipeline.readiness
    readiness.registry_version, readiness.challengers = version, len(configs)
    readiness.last_redis_ok = time.monotonic()
    pipeline.metrics.registry_version.set(version)


async def _replay_batch(pipeline: Pipeline, stage: ReplayStage, scorer: Scorer | None, evidence: EvidenceStore,
                        models: ModelSettings, batch: list[EventT]) -> None:
    sends: list = []
    stamps: list[float] = []
    events = pipeline.decoded(batch, InferenceEvent, "replay", sends, stamps)
    results = await retry_forever(lambda: stage.replay(events, stamps), f"replay of {len(events)} events",
                                  logger=log)
    scored = await score_until_done(scorer, models, results) if scorer else [None] * len(results)
    records = _send_results(pipeline, results, scored, sends)
    await deliver(sends)
    if records:
        pipeline.metrics.processed.labels("scoring").inc(len(records))
        await record_evidence(pipeline.worker, evidence, records)


def _send_results(pipeline: Pipeline, results: list[ShadowResult], scored: list, sends: list) -> list[ScoredRecord]:
    """Queue every result (marked when scored inline) and every inline record; the records sent."""
    records = []
    for result, record in zip(results, scored):
        key = result.event.event_id.encode()
        inline = isinstance(record, ScoredRecord)
        # A result the inline scorer failed on goes out unmarked: the scoring agent
        # tries it again and dead-letters it with the original bytes if it fails too.
        sends.append(pipeline.results.send(key=key, value=result.model_dump_json().encode(),
                                           headers={SCORED_INLINE_HEADER: b"1"} if inline else None))
        if inline:
            records.append(record)
            sends.append(pipeline.scored.send(key=key, value=record.model_dump_json().encode()))
        elif record is not None:
            log.error("inline scoring failed for %s, left to the scoring agent: %r", key, record)
    return records


async def _follow(pipeline: Pipeline, stage: ReplayStage, claims: ClaimStore, registry: ChallengerRegistry,
                  evidence: EvidenceStore) -> None:
    """Heartbeat of our claims, registry changes and allocation evidence, for as long as replay runs."""
    worker, readiness = pipeline.worker, pipeline.readiness
    version, last_registry, last_evidence = readiness.registry_version, 0.0, 0.0
    while True:
        try:
            await claims.beat()
            readiness.last_redis_ok = time.monotonic()
            now = time.monotonic()
            if now - last_registry >= worker.registry_refresh_s:
                last_registry = now
                if await registry.version() != version:
                    version, configs = await registry.load()
                    _follow_version(pipeline, stage, version, configs)
                    log.info("following challenger registry v%d: %s", version,
                             ", ".join(c.name for c in configs) or "(none)")
            if worker.replay_allocation == "thompson" and now - last_evidence >= EVIDENCE_REFRESH_S:
                last_evidence = now
                stage.evidence = await evidence.load()
        except Exception as exc:
            log.error("Redis unreachable from the replay agent: %r", exc)
        await asyncio.sleep(min(worker.worker_heartbeat_s, worker.registry_refresh_s))
