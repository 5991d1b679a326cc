"""The scoring agent: shadow.results -> Scorer -> shadow.scored, for the results that arrive unscored.

Results the replay agent scored inline carry SCORED_INLINE_HEADER and are skipped. A result that
does not decode, or that the scorer fails on alone, is dead-lettered; the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import faust
from faust.types import EventT

from schemas.errors import InvalidEventError
from schemas.events import ScoredRecord, ShadowResult
from schemas.settings import ModelSettings, ScoringSettings, WorkerSettings
from schemas.topics import was_scored_inline
from stream_agents.agents.pipeline import Pipeline, deliver
from stream_agents.evidence import EvidenceStore
from stream_agents.retry import describe, retry_forever
from stream_agents.scoring.embeddings import EmbeddingError
from stream_agents.scoring.scorer import Scorer

__all__ = ["scoring_agent", "score_until_done", "record_evidence"]

log = logging.getLogger(__name__)

SCORING_BATCH_SIZE = 500  # scoring is CPU only: a large batch costs no waiting


def scoring_agent(pipeline: Pipeline, models: ModelSettings,
                  scoring: ScoringSettings) -> Callable[[faust.StreamT], Awaitable[None]]:
    async def score(stream: faust.StreamT) -> None:
        async with pipeline.redis_client() as redis, Scorer(scoring, pipeline.connections) as scorer:
            evidence = EvidenceStore(redis, pipeline.prefix, pipeline.worker.replay_pass_similarity)

            async def batch_body(batch: list[EventT]) -> None:
                await _score_batch(pipeline, scorer, evidence, models, batch)

            await pipeline.run_batches("scoring", stream, batch_body, SCORING_BATCH_SIZE,
                                       pipeline.worker.stage_batch_seconds)

    return score


async def _score_batch(pipeline: Pipeline, scorer: Scorer, evidence: EvidenceStore, models: ModelSettings,
                       batch: list[EventT]) -> None:
    sends: list = []
    pairs = _unscored_results(pipeline, batch, sends)
    scored = await score_until_done(scorer, models, [result for _event, result in pairs])
    records: list[ScoredRecord] = []
    for (event, _result), record in zip(pairs, scored):
        if isinstance(record, Exception):  # a scorer bug on one item must not stop the stream
            log.error("scoring failed for %s: %s", event.message.key, describe(record))
            sends.append(pipeline.dead_letter(event, "scoring", f"scoring failed: {describe(record)}"))
            continue
        records.append(record)
        sends.append(pipeline.scored.send(key=event.message.key, value=record.model_dump_json().encode()))
    pipeline.metrics.processed.labels("scoring").inc(len(pairs))
    await deliver(sends)
    await record_evidence(pipeline.worker, evidence, records)


def _unscored_results(pipeline: Pipeline, batch: list[EventT], sends: list) -> list[tuple[EventT, ShadowResult]]:
    """The results left to score, with their events; a dead letter for each that does not decode."""
    pairs = []
    for event in batch:
        if was_scored_inline(event.message.headers):
            continue  # the replay agent scored it already
        try:
            pairs.append((event, pipeline.decode(event, ShadowResult)))
        except InvalidEventError as exc:
            sends.append(pipeline.dead_letter(event, "scoring", str(exc)))
    return pairs


async def score_until_done(scorer: Scorer, models: ModelSettings,
                           results: list[ShadowResult]) -> list[ScoredRecord | Exception]:
    """Retry while the embeddings endpoint is down: rows are never written under another method."""
    prices = [models.price_of(r.event.production_model) for r in results]
    return await retry_forever(lambda: scorer.score_batch(results, prices), f"scoring a batch of {len(results)}",
                               retry_on=EmbeddingError, logger=log)


async def record_evidence(worker: WorkerSettings, evidence: EvidenceStore, records: list[ScoredRecord]) -> None:
    """Pass/fail counts for Thompson allocation; nothing under other allocations."""
    if worker.replay_allocation != "thompson":
        return
    try:  # evidence steers spend, it is not data: a Redis hiccup only costs a little of it
        await evidence.record(records)
    except Exception as exc:
        log.warning("could not record allocation evidence: %r", exc)
