"""Scoring on the real stack: embedding cache in Redis, rescore from a real shadow.results topic into
ClickHouse (new columns included), and the noise-floor query."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from confluent_kafka import Producer

from analytics.noise_floor import noise_floor
from analytics.scope import latest_scorer_version
from infra.kafka_clients import ensure_topics
from schemas.clickhouse import SCORES_TABLE, migrate
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, ShadowResult, ShadowStatus, Usage
from schemas.settings import ModelPrice
from stream_agents.scoring import Scorer, score_result
from stream_agents.scoring.rescore import rescore
from stream_agents.sink import SCORE_COLUMNS, records_to_columns
from tests.integration.conftest import http_json

pytestmark = pytest.mark.integration


def _result(app: str, event_id: str, production: str, challenger: str, name: str = "ch", control: bool = False,
            ts: datetime | None = None, route: str = "/v1/chat/completions") -> ShadowResult:
    now = ts or datetime.now(UTC)
    event = InferenceEvent(
        event_id=event_id, app=app, route=route, ts_request=now, ts_response=now, production_model="gpt-4",
        request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content="q")]),
        response=CapturedResponse(status_code=200, text=production, usage=Usage(prompt_tokens=3, completion_tokens=7)),
        latency_ms=40.0, request_hash=uuid.uuid4().hex)
    return ShadowResult(event=event, challenger=name, challenger_model=name, is_control=control,
                        status=ShadowStatus.OK, response_text=challenger, latency_ms=20.0,
                        usage=Usage(prompt_tokens=3, completion_tokens=4), cost_usd=0.0, ts_called=now)


def test_embeddings_are_cached_in_redis_by_content_hash(pipeline_settings, processes):
    base_url, sim = processes.sim_model(pipeline_settings, "emb", "--embeddings", "hashing")
    settings = pipeline_settings.model_copy(update={
        "similarity_method": "embedding", "embedding_base_url": base_url, "embedding_model": "any"})
    results = [_result(settings.app_name, f"e{i}", f"Answer number {i} about cats.", f"Reply {i} on cats.")
               for i in range(5)]

    async def run() -> tuple[list, list, list[bytes]]:
        async with Scorer(settings.scoring, settings.connections) as scorer:
            first = await scorer.score_batch(results, [ModelPrice()] * 5)
            second = await scorer.score_batch(results, [ModelPrice()] * 5)
        async with aioredis.Redis.from_url(settings.redis_url) as redis:
            keys = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}shadow:emb:any:*")]
        return first, second, keys

    requests_before = http_json(base_url.removesuffix("/v1") + "/healthz")["requests"]
    first, second, keys = asyncio.run(run())
    requests = http_json(base_url.removesuffix("/v1") + "/healthz")["requests"] - requests_before
    assert requests == 1  # one call for the whole first batch, none for the second
    assert len(keys) == 10  # 10 distinct texts
    assert [r.similarity for r in first] == pytest.approx([r.similarity for r in second], abs=1e-6)
    assert {r.similarity_method for r in first} == {"embedding:any"}


def _publish(bootstrap: str, topic: str, results: list[ShadowResult], extra: list[bytes] = ()) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for r in results:
        producer.produce(topic, key=r.event.event_id.encode(), value=r.model_dump_json().encode())
    for raw in extra:
        producer.produce(topic, key=b"bad", value=raw)
    assert producer.flush(30) == 0


def test_rescore_reads_the_results_topic_and_writes_new_columns_once(pipeline_settings, clickhouse):
    settings = pipeline_settings
    migrate(clickhouse)
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    app = settings.app_name
    results = [_result(app, f"r{i}", '{"label": "reject", "score": 0.5}', '{"label": "approve", "score": 0.75}')
               for i in range(6)] + [_result(app, "r-text", "The cat sat.", "A cat sat.")]
    _publish(settings.kafka_bootstrap, settings.topics.results, results, extra=[b"not json"])

    report = rescore(settings)
    assert (report.read, report.written, report.invalid) == (8, 7, 1)
    again = rescore(settings)  # idempotent: same keys, ReplacingMergeTree keeps one row each
    assert again.written == 7 and again.scorer_version == report.scorer_version

    rows = clickhouse.query(
        f"SELECT event_id, label_flip, numeric_rel_error, json_fields_changed, total_tokens_delta, scorer_version "
        f"FROM {SCORES_TABLE} FINAL WHERE app = {{app:String}} ORDER BY event_id", parameters={"app": app}).result_rows
    assert len(rows) == 7
    by_id = {r[0]: r for r in rows}
    assert by_id["r0"][1] == "reject->approve" and by_id["r-text"][1] == ""
    assert by_id["r0"][2] == pytest.approx(0.5) and by_id["r0"][3] == ["label", "score"]
    assert by_id["r-text"][2] is None and by_id["r-text"][3] == []
    assert {r[4] for r in rows} == {(3 + 4) - (3 + 7)}
    assert {r[5] for r in rows} == {report.scorer_version}


def test_rescore_honours_the_time_range(pipeline_settings, clickhouse):
    settings = pipeline_settings
    migrate(clickhouse)
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    _publish(settings.kafka_bootstrap, settings.topics.results,
             [_result(settings.app_name, f"old{i}", "a b c", "a b d") for i in range(3)])
    time.sleep(0.5)  # Kafka timestamps are milliseconds: keep the two groups apart
    cut = datetime.now(UTC)
    time.sleep(0.5)
    _publish(settings.kafka_bootstrap, settings.topics.results,
             [_result(settings.app_name, f"new{i}", "a b c", "a b d") for i in range(2)])
    report = rescore(settings, since=cut)
    assert (report.read, report.written) == (2, 2)
    ids = clickhouse.query(f"SELECT event_id FROM {SCORES_TABLE} FINAL WHERE app = {{app:String}}",
                           parameters={"app": settings.app_name}).result_rows
    assert sorted(r[0] for r in ids) == ["new0", "new1"]


def test_noise_floor_puts_each_challenger_next_to_the_control(pipeline_settings, clickhouse):
    migrate(clickhouse)
    app = pipeline_settings.app_name
    records = []
    for i in range(4):
        base = "The quick brown fox jumps over the lazy dog near the river bank today."
        records.append(score_result(_result(app, f"n{i}", base, base.replace("today", "now"), name="control",
                                            control=True), ModelPrice()))
        records.append(score_result(_result(app, f"n{i}", base, "Stock markets fell sharply.", name="cheap"),
                                    ModelPrice()))
        records.append(score_result(_result(app, f"m{i}", base, base, name="cheap", route="/other"), ModelPrice()))
    clickhouse.insert(SCORES_TABLE, records_to_columns(records), column_names=SCORE_COLUMNS, column_oriented=True)

    version = latest_scorer_version(clickhouse, app)
    assert version == records[0].scorer_version
    rows = {(r.route, r.challenger): r for r in noise_floor(clickhouse, version, app=app)}
    control, cheap = rows[("/v1/chat/completions", "control")], rows[("/v1/chat/completions", "cheap")]
    assert control.is_control and control.n == 4 and cheap.n == 4
    assert cheap.control_mean_similarity == pytest.approx(control.mean_similarity)
    assert cheap.gap is not None and cheap.gap < -0.5  # far below the floor
    other = rows[("/other", "cheap")]
    assert other.control_n == 0 and other.gap is None  # no control on that route: no floor claimed
