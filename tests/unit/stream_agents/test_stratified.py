"""Semantic stratified sampling: every cluster kept, ≥ 95 % fewer calls, deterministic (no services)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from stream_agents.stratified import embed_texts, kmeans, stratified_sample
from schemas.errors import InvalidRequestError
from shadow_optic.data_files import data_dir

PAIRS = data_dir() / "paired_responses.jsonl"

TOPICS = {
    "billing": "invoice refund charge payment credit card subscription plan price",
    "python": "python list dict function class exception import module pandas",
    "travel": "flight hotel booking visa airport luggage train ticket",
    "cooking": "recipe oven bake flour sugar butter garlic pasta sauce",
    "health": "doctor symptom fever headache medicine sleep vitamin diet",
    "music": "guitar chord song melody piano lyrics rhythm concert",
}


def _synthetic(per_topic: int, seed: int = 1) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, truth = [], []
    for topic, vocabulary in TOPICS.items():
        words = vocabulary.split()
        for _ in range(per_topic):
            texts.append("please help with " + " ".join(rng.choices(words, k=8)))
            truth.append(topic)
    return texts, truth


def test_every_true_topic_survives_and_calls_drop_by_at_least_95_percent():
    texts, truth = _synthetic(per_topic=100)
    sample = stratified_sample(texts, clusters=len(TOPICS))
    assert sample.reduction >= 0.95
    assert {truth[i] for i in sample.kept} == set(TOPICS)
    # Each cluster is one topic (the vectoriser separates them) and keeps centroid + 2 outliers.
    for cluster, kept in sample.representatives.items():
        members = {truth[i] for i, label in enumerate(sample.labels) if label == cluster}
        assert len(members) == 1 and len(kept) == 3


def test_every_cluster_of_the_real_prompts_is_kept_with_a_95_percent_cut():
    prompts = [json.loads(line)["prompt"] for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    sample = stratified_sample(prompts, clusters=6)
    assert sample.reduction >= 0.95
    assert {sample.labels[i] for i in sample.kept} == set(range(sample.clusters))
    assert set(sample.labels) == set(range(6))  # k-means left no cluster empty


def test_the_sample_is_deterministic_across_runs_and_processes():
    texts, _ = _synthetic(per_topic=30)
    assert stratified_sample(texts, 6, seed=3).kept == stratified_sample(texts, 6, seed=3).kept
    # crc32 features, not Python's per-process salted hash(): a fixed vector for a fixed text.
    assert embed_texts(["refund my invoice"], dim=64)[0].round(4).tolist() == \
        embed_texts(["refund my invoice"], dim=64)[0].round(4).tolist()


def test_small_inputs_keep_everything_and_bad_k_is_refused():
    assert stratified_sample(["a b", "c d"], clusters=5).kept == [0, 1]
    assert stratified_sample([], clusters=3).kept == []
    with pytest.raises(InvalidRequestError):
        stratified_sample(["x"], clusters=0)


def test_kmeans_leaves_no_cluster_empty_even_with_duplicates():
    x = np.vstack([np.ones((10, 4)), np.zeros((2, 4))]).astype(np.float32)
    labels, _ = kmeans(x, 3, seed=0)
    assert set(labels.tolist()) == {0, 1, 2}
