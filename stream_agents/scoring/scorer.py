"""The async Scorer the scoring agent uses: similarity method and judge chosen by Settings.

An async context manager that owns its clients (httpx for the embeddings endpoint and the judge,
Redis for the embedding cache) and scores a batch at once, so one embeddings call covers every text
of the batch. With the defaults (lexical, no judge) it opens nothing and equals `score_result`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from infra.redis_clients import redis_options
from schemas.errors import ConfigError
from schemas.events import Judgment, ScoredRecord, ShadowResult, ShadowStatus
from schemas.settings import ConnectionSettings, ModelPrice, ScoringSettings
from stream_agents.scoring.embeddings import (
    EMBEDDING_VERSION,
    EmbeddingCache,
    EmbeddingSimilarity,
    HashingEmbedder,
    HttpEmbedder,
    LocalEmbedder,
)
from stream_agents.limits import RateLimiter
from stream_agents.registry import registry_prefix
from stream_agents.scoring.judge import JUDGE_VERSION, LLMJudge
from stream_agents.scoring.judge_limits import JudgeLimits, LocalJudgeLimits, SharedJudgeLimits
from stream_agents.scoring.pairwise import PairwiseJudge, render_conversation
from stream_agents.scoring.record import score_result, scorer_version
from stream_agents.scoring.similarity import SIMILARITY_VERSION, SimilarityScore

__all__ = ["Scorer", "score_result_async", "sampled_for_judge"]


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


def sampled_for_judge(event_id: str, ratio: float) -> bool:
    """Sticky by event id: every challenger of an event is judged, or none (comparable sets)."""
    if ratio >= 1.0:
        return True
    h = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big")
    return h < ratio * 2**64


class Scorer:
    """`async with Scorer(settings.scoring, settings.connections) as scorer:
    records = await scorer.score_batch(results, prices)`.

    `connections` gives the Redis the embedding cache and the judge's shared limits use (none: no
    cache, limits per process)."""

    def __init__(self, settings: ScoringSettings, connections: ConnectionSettings | None = None, *,
                 method: str | None = None, http: httpx.AsyncClient | None = None,
                 redis: Any = None, use_judge: bool = True) -> None:
        self._settings = settings
        if connections is None and isinstance(settings, ConnectionSettings):
            connections = settings  # the whole Settings holds every section: keep its Redis, not drop it
        self._redis_url = connections.redis_url if connections is not None else None
        self._redis_security = connections.redis_security if connections is not None else None
        self._key_prefix = registry_prefix(connections.topic_prefix if connections is not None else "")
        self.method = method or settings.similarity_method
        if self.method not in ("lexical", "embedding"):
            raise ConfigError(f"SHADOW_SIMILARITY_METHOD={self.method!r}: use lexical or embedding")
        self._http, self._own_http = http, False
        self._redis, self._own_redis = redis, False
        self._use_judge = use_judge and bool(settings.judge_base_url)
        self.embeddings: EmbeddingSimilarity | None = None
        self.judge: LLMJudge | PairwiseJudge | None = None
        self.version = scorer_version(self._similarity_version())

    def _similarity_version(self) -> str:
        if self.method == "lexical":
            return SIMILARITY_VERSION
        s = self._settings
        model = {"local": LocalEmbedder.model, "hashing": HashingEmbedder().model}.get(s.embedding_provider,
                                                                                       s.embedding_model)
        return f"{EMBEDDING_VERSION}:{model}:c{s.embedding_chunk_chars}"

    async def __aenter__(self) -> Scorer:
        s = self._settings
        needs_http = self._use_judge or (self.method == "embedding" and s.embedding_provider == "http")
        if needs_http and self._http is None:
            self._http, self._own_http = httpx.AsyncClient(limits=httpx.Limits(max_connections=32)), True
        if self.method == "embedding":
            self.embeddings = EmbeddingSimilarity(self._embedder(), await self._cache(), s.embedding_chunk_chars)
        if self._use_judge:
            assert self._http is not None and s.judge_base_url
            price = ModelPrice(input_per_1k=s.judge_price_input_per_1k, output_per_1k=s.judge_price_output_per_1k)
            if s.judge_mode == "pairwise":
                redis = await self._shared_redis()
                limits: JudgeLimits = (
                    SharedJudgeLimits(RateLimiter(redis, self._key_prefix), s.judge_model, s.judge_rps,
                                      s.judge_burst, s.judge_budget_usd) if redis is not None
                    else LocalJudgeLimits(s.judge_rps, s.judge_burst, s.judge_budget_usd))
                self.judge = PairwiseJudge(self._http, s.judge_base_url, s.judge_model, _secret(s.judge_api_key),
                                           limits=limits, concurrency=s.judge_concurrency, price=price,
                                           timeout_s=s.judge_timeout_s, max_chars=s.judge_max_chars)
            else:
                self.judge = LLMJudge(self._http, s.judge_base_url, s.judge_model, _secret(s.judge_api_key),
                                      repeats=s.judge_repeats, rate_per_s=s.judge_rps, burst=s.judge_burst,
                                      concurrency=s.judge_concurrency, budget_usd=s.judge_budget_usd, price=price,
                                      temperature=s.judge_temperature, timeout_s=s.judge_timeout_s,
                                      max_chars=s.judge_max_chars, seed=s.judge_seed)
        return self

    def _embedder(self) -> Any:
        s = self._settings
        if s.embedding_provider == "local":
            return LocalEmbedder(batch_size=s.embedding_batch_size)
        if s.embedding_provider == "hashing":
            return HashingEmbedder()
        if not s.embedding_base_url:
            raise ConfigError("SHADOW_SIMILARITY_METHOD=embedding with the http provider needs "
                              "SHADOW_EMBEDDING_BASE_URL (or SHADOW_EMBEDDING_PROVIDER=local)")
        assert self._http is not None
        return HttpEmbedder(self._http, s.embedding_base_url, s.embedding_model, _secret(s.embedding_api_key),
                            batch_size=s.embedding_batch_size, timeout_s=s.embedding_timeout_s)

    async def _shared_redis(self) -> Any:
        """The Redis client the embedding cache and the judge's limits share; None without Redis."""
        if self._redis is None and self._redis_url:
            import redis.asyncio as aioredis

            # A blocking pool, as the worker's own: a burst waits for a connection instead of failing.
            pool = aioredis.BlockingConnectionPool.from_url(self._redis_url, max_connections=32, timeout=30,
                                                            **redis_options(self._redis_url, self._redis_security))
            self._redis, self._own_redis = aioredis.Redis(connection_pool=pool), True
        return self._redis

    async def _cache(self) -> EmbeddingCache | None:
        s = self._settings
        if s.embedding_cache_ttl_s == 0:
            return None
        redis = await self._shared_redis()
        if redis is None:
            return None  # no Redis configured: embed every time
        return EmbeddingCache(redis, prefix=self._key_prefix, ttl_s=s.embedding_cache_ttl_s)

    async def __aexit__(self, *exc: object) -> None:
        if self._own_http and self._http is not None:
            await self._http.aclose()
        if self._own_redis and self._redis is not None:
            await self._redis.aclose()

    async def _judge_one(self, result: ShadowResult) -> Judgment:
        assert self.judge is not None
        production, challenger = result.event.response.text, result.response_text
        if isinstance(self.judge, PairwiseJudge):
            fields = await self._pairwise(self.judge, result.event, production, challenger)
        else:
            fields = await self._rubric(self.judge, result, production, challenger)
        return Judgment(judge_model=self.judge.model, ts_judged=datetime.now(UTC),
                        length_ratio=len(challenger) / len(production) if production else None, **fields)

    async def _pairwise(self, judge: PairwiseJudge, event: Any, production: str, challenger: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"judge_version": judge.version}
        if not production.strip() or not challenger.strip():
            return fields | {"status": "not_judged", "reason": "an answer is empty: nothing to compare"}
        outcome, why, cost = await judge.judge(render_conversation(event.request, self._settings.judge_max_chars),
                                               production, challenger)
        if outcome is None:
            return fields | {"status": "not_judged", "reason": why, "cost_usd": cost}
        return fields | {"status": "judged", "score": outcome.score, "flipped": outcome.flipped, "cost_usd": cost}

    async def _rubric(self, judge: LLMJudge, result: ShadowResult, production: str, challenger: str) -> dict[str, Any]:
        spent_before = judge.spent_usd
        scores = await judge.judge(result.event.request.last_user_text(), production, challenger,
                                   result.event.event_id, result.challenger)
        fields: dict[str, Any] = {"judge_version": f"{JUDGE_VERSION}:{judge.model}",
                                  "cost_usd": judge.spent_usd - spent_before}
        if scores is None:
            return fields | {"status": "not_judged", "reason": "the judge gave no usable verdict"}
        # Rubric: faithfulness is agreement with production (equivalence), quality the answer's own.
        return fields | {"status": "judged", "faithfulness": scores.faithfulness, "quality": scores.quality,
                         "quality_production": scores.quality_production, "conciseness": scores.conciseness,
                         "refusal": scores.refusal}

    def _judged(self, result: ShadowResult) -> bool:
        """The control is never judged (it measures the noise floor); requests with tools never replay."""
        return (self.judge is not None and result.status is ShadowStatus.OK and not result.is_control
                and result.event.request.kind in ("chat", "completion")
                and sampled_for_judge(result.event.event_id, self._settings.judge_sample_ratio))

    async def score_batch(self, results: Sequence[ShadowResult],
                          prices: Sequence[ModelPrice]) -> list[ScoredRecord | Exception]:
        """One record per result, in order; a per-item scoring bug comes back as that item's exception.

        Raises EmbeddingError (retriable, a ChallengerError) when the embeddings endpoint is down:
        retry the batch later rather than write rows under another method.
        """
        ok = [r for r in results if r.status is ShadowStatus.OK]
        similarities: dict[int, SimilarityScore] = {}
        if self.embeddings is not None and ok:
            scores = await self.embeddings.score_pairs([(r.event.response.text, r.response_text) for r in ok])
            similarities = {id(r): s for r, s in zip(ok, scores)}
        judged = [r for r in results if self._judged(r)]
        verdicts = dict(zip(map(id, judged), await asyncio.gather(*(self._judge_one(r) for r in judged))))
        return await self._score_all(results, prices, similarities, verdicts)

    async def _score_all(self, results: Sequence[ShadowResult], prices: Sequence[ModelPrice],
                         similarities: dict[int, SimilarityScore], verdicts: dict) -> list[ScoredRecord | Exception]:
        # CPU-bound, so it yields to the event loop every few milliseconds: challenger calls in
        # flight in the same worker must not wait behind a whole batch, or their measured latency
        # would include our scoring. (A thread would be worse: its GIL contention stalls the loop.)
        s = self._settings
        out: list[ScoredRecord | Exception] = []
        slice_started = time.perf_counter()
        for result, price in zip(results, prices):
            try:
                out.append(score_result(result, price, similarity=similarities.get(id(result)),
                                        judgment=verdicts.get(id(result)), version=self.version,
                                        label_fields=s.scoring_label_fields, numeric_fields=s.scoring_numeric_fields,
                                        answers_max_chars=s.answers_max_chars if s.answers_ttl_days > 0 else 0))
            except Exception as exc:  # a bug on one item must not lose the batch
                out.append(exc)
            if time.perf_counter() - slice_started > 0.005:
                await asyncio.sleep(0)
                slice_started = time.perf_counter()
        return out

    async def score(self, result: ShadowResult, price: ModelPrice) -> ScoredRecord:
        record = (await self.score_batch([result], [price]))[0]
        if isinstance(record, Exception):
            raise record
        return record


async def score_result_async(result: ShadowResult, price: ModelPrice, scorer: Scorer) -> ScoredRecord:
    """One result through an open Scorer (prefer `scorer.score_batch` for a whole batch)."""
    return await scorer.score(result, price)
