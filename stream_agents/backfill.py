"""Backfill: replay a stretch of shadow.requests to a new challenger, without touching live groups.

How the replayed events reach ClickHouse: this module calls the challenger itself through the
worker's own ReplayStage (same claims, Redis rate limiter, spend budgets, circuit breaker) and publishes
each ShadowResult to shadow.results; the running worker's scoring and sink agents score and store
them like live results. Why not re-publish the events to shadow.requests: the worker would replay
them to *every* live challenger (paid calls avoided only by the claims, duplicate rows) and would
need the new challenger in its own configuration. Calling here needs neither, and the claim rule
still holds: a pair already answered (by the worker or an earlier backfill) is re-published from
Redis, never called again.

Reading uses an assign-only consumer (no group, no commits): live consumer groups never see it.
Resumable: after each batch is delivered, a checkpoint in Redis records per partition the next
offset to do, plus the offset ranges resolved at the start (so `--resume` of a time range re-reads
exactly the same records even if new ones arrived since).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import redis.asyncio as aioredis
from confluent_kafka import Consumer, Producer, TopicPartition
from pydantic import BaseModel, Field

from infra.kafka_clients import kafka_config
from infra.redis_clients import redis_options
from infra.topic_ranges import offsets_by_time, read_ranges, topic_partitions
from schemas.errors import ConfigError, InvalidEventError, InvalidRequestError, NotFoundError, StackError
from schemas.events import InferenceEvent
from schemas.redis_keys import backfill_checkpoint_key
from schemas.security import ClickHouseSecurity, KafkaSecurity
from schemas.settings import ChallengerConfig, ModelSettings, Settings, WorkerSettings
from stream_agents.allowed_hosts import AllowedHosts
from stream_agents.claims import ClaimStore
from stream_agents.limits import RateLimiter
from stream_agents.metrics import WorkerMetrics
from stream_agents.registry import registry_prefix
from stream_agents.replay import ReplayStage

__all__ = ["OffsetRange", "BackfillPlan", "BackfillReport", "parse_offsets", "run_backfill", "pinned_event_ids"]

log = logging.getLogger(__name__)
_OFFSETS = re.compile(r"^(\d+):(\d+)-(\d+)$")


class OffsetRange(BaseModel):
    partition: int = Field(ge=0)
    start: int = Field(ge=0)
    end: int = Field(ge=0, description="exclusive")


class BackfillPlan(BaseModel):
    """What to replay; its job id (hence its checkpoint) depends on nothing else."""

    challenger: str
    ts_from: datetime | None = None
    ts_to: datetime | None = None
    offsets: list[OffsetRange] | None = None
    pinned_to: str | None = None
    clusters: int | None = Field(None, ge=1, description="stratified sampling when set")
    seed: int = 0
    budget_usd: float | None = Field(None, gt=0)

    def job_id(self, topic: str) -> str:
        key = self.model_dump_json(include={"challenger", "ts_from", "ts_to", "offsets", "pinned_to", "clusters",
                                            "seed"})
        return hashlib.sha256(f"{topic}|{key}".encode()).hexdigest()[:16]


class BackfillReport(BaseModel):
    job_id: str
    challenger: str
    ranges: list[OffsetRange]
    read: int = 0
    in_time_range: int = 0
    undecodable: int = 0
    pinned_excluded: int = 0
    selected: int = 0
    already_done_by_checkpoint: int = 0
    called: int = Field(0, description="pairs this run claimed and decided (called, or skipped by a limit)")
    reused_stored: int = Field(0, description="pairs answered before: stored result re-published, no call")
    published: int = 0
    statuses: dict[str, int] = Field(default_factory=dict)
    cost_usd: float = 0.0
    clusters: int | None = None
    reduction: float | None = None
    finished: bool = False
    stopped_reason: str | None = None


def parse_offsets(spec: str) -> list[OffsetRange]:
    """`P:START-END,...` (END exclusive) into ranges; one range per partition."""
    ranges: dict[int, OffsetRange] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        match = _OFFSETS.match(part)
        if match is None:
            raise InvalidRequestError(f"--offsets: {part!r} is not PARTITION:START-END (END exclusive), e.g. 0:100-200")
        partition, start, end = (int(g) for g in match.groups())
        if end < start or partition in ranges:
            raise InvalidRequestError(f"--offsets: {part!r} is empty backwards or repeats partition {partition}")
        ranges[partition] = OffsetRange(partition=partition, start=start, end=end)
    if not ranges:
        raise InvalidRequestError("--offsets is empty; give PARTITION:START-END,…")
    return sorted(ranges.values(), key=lambda r: r.partition)


def _ms(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise InvalidRequestError(f"time {ts.isoformat()} has no time zone; write it like 2026-11-22T10:00:00Z")
    return int(ts.timestamp() * 1000)


class _Reader:
    """Assign-only consumer over one topic: no group membership, no commits."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 30.0,
                 security: KafkaSecurity | None = None) -> None:
        self.topic = topic
        self.timeout_s = timeout_s
        self.consumer = Consumer(kafka_config(bootstrap, security, {
            "group.id": "shadow-optic-backfill-reader", "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest", "log_level": 3}))

    def close(self) -> None:
        self.consumer.close()

    def partitions(self) -> list[int]:
        return topic_partitions(self.consumer, self.topic, self.timeout_s)

    def time_ranges(self, ts_from: datetime, ts_to: datetime) -> list[OffsetRange]:
        """Per partition [first offset at/after ts_from, first offset at/after ts_to)."""
        found = offsets_by_time(self.consumer, self.topic, ts_from, ts_to, self.timeout_s)
        return [OffsetRange(partition=p, start=start, end=end) for p, (start, end) in sorted(found.items())]

    def clamp(self, ranges: list[OffsetRange]) -> list[OffsetRange]:
        """Explicit offsets limited to what the partition holds now (retention, not yet written)."""
        known = set(self.partitions())
        clamped = []
        for r in ranges:
            if r.partition not in known:
                raise NotFoundError(f"--offsets: {self.topic} has no partition {r.partition} (it has {sorted(known)})")
            low, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, r.partition),
                                                            timeout=self.timeout_s)
            start, end = max(r.start, low), min(r.end, high)
            if end > start:
                clamped.append(OffsetRange(partition=r.partition, start=start, end=end))
        return clamped

    def read(self, ranges: list[OffsetRange], ts_from: datetime | None, ts_to: datetime | None,
             report: BackfillReport) -> list[tuple[int, int, InferenceEvent]]:
        """(partition, offset, event) of every decodable record in the ranges (and the time window)."""
        wanted = {r.partition: r for r in ranges if r.end > r.start}
        if not wanted:
            return []
        low_ms = _ms(ts_from) if ts_from else None
        high_ms = _ms(ts_to) if ts_to else None
        out: list[tuple[int, int, InferenceEvent]] = []
        bounds = {p: (r.start, r.end) for p, r in wanted.items()}
        for messages in read_ranges(self.consumer, self.topic, bounds, poll_s=0.5, stall_timeout_s=self.timeout_s):
            for message in messages:
                partition, offset = message.partition(), message.offset()
                report.read += 1
                stamp = message.timestamp()[1]
                # CreateTime need not grow with offsets: keep exactly the records inside the window.
                if (low_ms is not None and stamp < low_ms) or (high_ms is not None and stamp >= high_ms):
                    continue
                report.in_time_range += 1
                try:
                    out.append((partition, offset, InferenceEvent.model_validate_json(message.value())))
                except ValueError as exc:
                    report.undecodable += 1
                    log.warning("skipping %s[%d]@%d: not an InferenceEvent (%s)", self.topic, partition, offset,
                                InvalidEventError(str(exc)))
        self.consumer.unassign()
        return sorted(out, key=lambda item: (item[0], item[1]))


def pinned_event_ids(clickhouse_url: str, challenger: str, ts_from: datetime | None,
                     ts_to: datetime | None, security: ClickHouseSecurity | None = None) -> set[str]:
    """Event ids the earlier challenger has rows for (any status: it saw them), near the window."""
    from infra.clickhouse import connect
    from schemas.clickhouse import SCORES_TABLE

    client = connect(clickhouse_url, security)
    try:
        # ts_request precedes the record's timestamp by the production call: a day of slack before.
        low = (ts_from - timedelta(days=1)) if ts_from else datetime(1970, 1, 2)
        high = ts_to or datetime(2200, 1, 1)
        rows = client.query(
            f"SELECT DISTINCT event_id FROM {SCORES_TABLE} WHERE challenger = {{c:String}} "
            "AND ts_request >= {low:DateTime64(3)} AND ts_request < {high:DateTime64(3)}",
            parameters={"c": challenger, "low": low, "high": high}).result_rows
    finally:
        client.close()
    return {row[0] for row in rows}


class _Checkpoint:
    def __init__(self, redis: aioredis.Redis, key: str) -> None:
        self._redis, self.key = redis, key

    async def load(self) -> dict | None:
        raw = await self._redis.get(self.key)
        return None if raw is None else json.loads(raw)

    async def save(self, state: dict) -> None:
        await self._redis.set(self.key, json.dumps(state), ex=30 * 24 * 3600)

    async def clear(self) -> None:
        await self._redis.delete(self.key)


def _results_producer(bootstrap: str, security: KafkaSecurity | None = None) -> Producer:
    return Producer(kafka_config(bootstrap, security, {"linger.ms": 5, "compression.type": "lz4",
                                                       "enable.idempotence": True, "log_level": 3}))


async def run_backfill(settings: Settings, plan: BackfillPlan, challenger: ChallengerConfig, resume: bool = False,
                       stop: asyncio.Event | None = None,
                       on_progress: Callable[[int, int], None] | None = None) -> BackfillReport:
    """Replay the plan; returns when done, when `stop` is set (after the current batch) or at the budget."""
    from stream_agents.stratified import stratified_sample

    if not (settings.kafka_bootstrap and settings.redis_url):
        raise ConfigError("replay needs SHADOW_KAFKA_BOOTSTRAP and SHADOW_REDIS_URL (or `shadow-optic stack up`)")
    AllowedHosts.from_settings(settings).check_challenger(challenger)  # before anything is read or called
    if plan.pinned_to and not settings.clickhouse_url:
        raise ConfigError("--pinned-to reads ClickHouse: set SHADOW_CLICKHOUSE_URL (or `shadow-optic stack up`)")
    stop = stop or asyncio.Event()
    topics = settings.topics
    job_id = plan.job_id(topics.requests)
    async with aioredis.Redis.from_url(
            settings.redis_url, **redis_options(settings.redis_url, settings.redis_security)) as redis:
        checkpoint = _Checkpoint(redis, backfill_checkpoint_key(registry_prefix(settings.topic_prefix), job_id))
        state = await checkpoint.load() if resume else None
        if not resume:
            await checkpoint.clear()
        reader = _Reader(settings.kafka_bootstrap, topics.requests, security=settings.kafka_security)
        try:
            if state is not None:
                ranges = [OffsetRange.model_validate(r) for r in state["ranges"]]
            elif plan.offsets is not None:
                ranges = reader.clamp(plan.offsets)
            elif plan.ts_from and plan.ts_to:
                ranges = reader.time_ranges(plan.ts_from, plan.ts_to)
            else:
                raise InvalidRequestError("give a time range (--from and --to) or --offsets")
            report = BackfillReport(job_id=job_id, challenger=challenger.name, ranges=ranges)
            events = await asyncio.to_thread(reader.read, ranges, plan.ts_from, plan.ts_to, report)
        finally:
            reader.close()
        if plan.pinned_to:
            seen = await asyncio.to_thread(pinned_event_ids, settings.clickhouse_url, plan.pinned_to,
                                           plan.ts_from, plan.ts_to, settings.clickhouse_security)
            before = len(events)
            events = [e for e in events if e[2].event_id in seen]
            report.pinned_excluded = before - len(events)
        if plan.clusters:
            sample = stratified_sample([e[2].request.last_user_text() for e in events], plan.clusters, seed=plan.seed)
            events = [events[i] for i in sample.kept]
            report.clusters, report.reduction = sample.clusters, sample.reduction
        report.selected = len(events)
        next_offsets: dict[str, int] = dict(state["next"]) if state else {}
        todo = [e for e in events if e[1] >= next_offsets.get(str(e[0]), 0)]
        report.already_done_by_checkpoint = len(events) - len(todo)
        state = {"ranges": [r.model_dump() for r in ranges], "next": next_offsets, "challenger": challenger.name}
        await checkpoint.save(state)
        await _replay(settings, challenger, redis, checkpoint, state, todo, report, plan, stop, on_progress)
    return report


def _stage_settings(settings: Settings, challenger: ChallengerConfig
                    ) -> tuple[WorkerSettings, ModelSettings, ChallengerConfig]:
    """The worker's replay stage, tuned for a backfill: one challenger, always allocated, never skipped
    for lag (old events are not late), paced at SHADOW_BACKFILL_QPS unless the challenger has its own
    shared rate limit (Redis, across all workers: the backfill queues behind live traffic)."""
    if challenger.rate_limit_rps is None:
        challenger = challenger.model_copy(update={"rate_limit_rps": settings.backfill_qps})
    worker = settings.worker.model_copy(update={"replay_allocation": "all", "replay_lag_budget_s": 0.0,
                                                "replay_concurrency": settings.backfill_concurrency})
    return worker, settings.models.model_copy(update={"challengers": [challenger]}), challenger


def _sample(metrics: WorkerMetrics, name: str, labels: dict[str, str]) -> int:
    return int(metrics.registry.get_sample_value(name, labels) or 0)


async def _heartbeat(claims: ClaimStore, every_s: float) -> None:
    # Our claims must look alive to the workers, or they would settle them as abandoned mid-call.
    while True:
        await asyncio.sleep(every_s)
        try:
            await claims.beat()
        except Exception as exc:  # a Redis blip: the next beat tries again
            log.warning("claim heartbeat failed: %r", exc)


async def _replay(settings: Settings, challenger: ChallengerConfig, redis: aioredis.Redis, checkpoint: _Checkpoint,
                  state: dict, todo: list[tuple[int, int, InferenceEvent]], report: BackfillReport, plan: BackfillPlan,
                  stop: asyncio.Event, on_progress: Callable[[int, int], None] | None) -> None:
    done = report.already_done_by_checkpoint
    if on_progress:
        on_progress(done, report.selected)
    producer = _results_producer(settings.kafka_bootstrap, settings.kafka_security)
    failures: list[str] = []

    def delivered(error, _message) -> None:  # noqa: ANN001 - confluent callback
        if error is not None:
            failures.append(str(error))

    worker, models, challenger = _stage_settings(settings, challenger)
    prefix = registry_prefix(settings.topic_prefix)
    claims = ClaimStore(redis, prefix=prefix, ttl_s=settings.claim_ttl_s,
                        liveness_s=max(3.0, 4 * settings.worker_heartbeat_s))
    metrics = WorkerMetrics()
    await claims.beat()
    beats = asyncio.create_task(_heartbeat(claims, settings.worker_heartbeat_s))
    limits = httpx.Limits(max_connections=settings.backfill_concurrency * 2)
    try:
        async with httpx.AsyncClient(limits=limits) as http:
            stage = ReplayStage(worker, models, http, claims, RateLimiter(redis, prefix), metrics)
            size = settings.backfill_batch_size
            for start in range(0, len(todo), size):
                if stop.is_set():
                    report.stopped_reason = "interrupted"
                    break
                if plan.budget_usd is not None and report.cost_usd >= plan.budget_usd:
                    report.stopped_reason = f"budget of {plan.budget_usd} USD spent"
                    break
                batch = todo[start:start + size]
                results = await stage.replay([e[2] for e in batch])
                for result in results:
                    producer.produce(settings.topics.results, key=result.event.event_id.encode(),
                                     value=result.model_dump_json().encode(), on_delivery=delivered)
                    report.statuses[result.status.value] = report.statuses.get(result.status.value, 0) + 1
                remaining = await asyncio.to_thread(producer.flush, 60)
                if remaining or failures:
                    # Not delivered: the checkpoint stays; a --resume re-publishes from the claims.
                    raise StackError(f"{remaining} results not delivered to {settings.topics.results}: {failures[:3]}")
                report.published += len(results)
                report.called = _sample(metrics, "shadow_claims_total", {"outcome": "claimed"})
                report.reused_stored = _sample(metrics, "shadow_claims_total", {"outcome": "done"})
                report.cost_usd = float(metrics.registry.get_sample_value(
                    "shadow_replay_spend_usd_total", {"challenger": challenger.name}) or 0.0)
                for partition, offset, _event in batch:
                    key = str(partition)
                    state["next"][key] = max(state["next"].get(key, 0), offset + 1)
                await checkpoint.save(state)
                done += len(batch)
                if on_progress:
                    on_progress(done, report.selected)
            else:
                report.finished = True
    finally:
        beats.cancel()
        await claims.retire()
    if report.finished:
        state["finished"] = True
        await checkpoint.save(state)
