"""Semantic stratified sampling of prompts: embed, k-means, keep each cluster's centroid + outliers.

The seed's recipe (Shadow-Optic guide): a replay of a few representatives per cluster costs a
fraction of a full replay and still covers every kind of request. Embeddings here are a hashed
TF-IDF of words and word bigrams (numpy only, no model weights to download): good enough to group
prompts by topic and wording, deterministic across processes (crc32, not Python's salted hash).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter

import numpy as np
from pydantic import BaseModel, Field

from schemas.errors import InvalidRequestError

__all__ = ["StratifiedSample", "embed_texts", "kmeans", "stratified_sample"]

_WORD = re.compile(r"[a-z0-9]+")


class StratifiedSample(BaseModel):
    """Which inputs to keep (indices into the input list, ascending) and why."""

    total: int
    clusters: int
    kept: list[int]
    labels: list[int] = Field(description="cluster of every input")
    representatives: dict[int, list[int]] = Field(description="cluster -> kept indices (centroid first)")

    @property
    def reduction(self) -> float:
        """Share of calls saved, e.g. 0.96 = 96 % fewer calls than replaying everything."""
        return 0.0 if self.total == 0 else 1.0 - len(self.kept) / self.total


def _features(text: str) -> Counter[str]:
    words = _WORD.findall(text.lower())
    grams = Counter(words)
    grams.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return grams


def embed_texts(texts: list[str], dim: int = 512) -> np.ndarray:
    """Rows of L2-normalised hashed TF-IDF vectors (float32, n × dim)."""
    features = [_features(t) for t in texts]
    buckets = [{zlib.crc32(g.encode()) % dim: c for g, c in f.items()} for f in features]
    matrix = np.zeros((len(texts), dim), dtype=np.float32)
    for row, counts in enumerate(features):
        for gram, count in counts.items():  # hash collisions add up, as in any hashing vectoriser
            matrix[row, zlib.crc32(gram.encode()) % dim] += 1.0 + math.log(count)
    document_frequency = np.zeros(dim, dtype=np.float32)
    for b in buckets:
        document_frequency[list(b)] += 1.0
    idf = np.log((1.0 + len(texts)) / (1.0 + document_frequency)) + 1.0
    matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _sq_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    d = (x * x).sum(1)[:, None] - 2.0 * x @ centres.T + (centres * centres).sum(1)[None, :]
    return np.maximum(d, 0.0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centres) by k-means++ then Lloyd; no cluster is left empty."""
    n = len(x)
    rng = np.random.default_rng(seed)
    centres = np.empty((k, x.shape[1]), dtype=x.dtype)
    centres[0] = x[rng.integers(n)]
    closest = _sq_distances(x, centres[:1])[:, 0]
    for i in range(1, k):
        total = closest.sum()
        pick = rng.choice(n, p=closest / total) if total > 0 else rng.integers(n)
        centres[i] = x[pick]
        closest = np.minimum(closest, _sq_distances(x, centres[i:i + 1])[:, 0])
    labels = np.full(n, -1)
    for _ in range(max_iter):
        distances = _sq_distances(x, centres)
        new_labels = distances.argmin(1)
        for c in range(k):  # an empty cluster takes the point worst served by its own centre
            if not (new_labels == c).any():
                worst = distances[np.arange(n), new_labels].argmax()
                new_labels[worst] = c
                distances[worst] = 0.0
        if (new_labels == labels).all():
            break
        labels = new_labels
        for c in range(k):
            centres[c] = x[labels == c].mean(0)
    return labels, centres


def stratified_sample(texts: list[str], clusters: int, outliers: int = 2, seed: int = 0,
                      dim: int = 512) -> StratifiedSample:
    """Per cluster: the input nearest its centroid plus the `outliers` farthest from it."""
    if clusters < 1:
        raise InvalidRequestError(f"--clusters must be at least 1, got {clusters}")
    n = len(texts)
    if n == 0:
        return StratifiedSample(total=0, clusters=0, kept=[], labels=[], representatives={})
    k = min(clusters, n)
    x = embed_texts(texts, dim)
    labels, centres = kmeans(x, k, seed)
    representatives: dict[int, list[int]] = {}
    for c in range(k):
        members = np.flatnonzero(labels == c)
        distance = _sq_distances(x[members], centres[c:c + 1])[:, 0]
        order = members[np.argsort(distance, kind="stable")]
        chosen = [int(order[0])] + [int(i) for i in order[::-1][:outliers] if i != order[0]]
        representatives[c] = list(dict.fromkeys(chosen))
    kept = sorted(i for chosen in representatives.values() for i in chosen)
    return StratifiedSample(total=n, clusters=k, kept=kept, labels=[int(v) for v in labels],
                            representatives=representatives)
