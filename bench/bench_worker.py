"""Worker throughput and freshness, against a hand-written aiokafka + httpx loop in the same run.

    python bench/bench_worker.py [--events 6000] [--rate 1000] [--seconds 10] [--challenger fixed|sim]

1. Throughput: the Faust worker (replay+scoring -> sink by default, or replay -> scoring -> sink with
   SHADOW_SCORE_IN_REPLAY=false) and a hand-written loop (aiokafka getmany -> httpx calls ->
   score_result -> one ClickHouse insert per batch -> commit), each in its own process, running and
   warm (one event processed first); then N events are published at once.
   Rate = N / (last row - first publish); also the consumer process's CPU per event.
   (An earlier version timed from the first row to the last: the Faust sink writes its first rows only
   after the replay agent's first batches, so that clock missed most of the work and overstated the
   worker 2-4x.)
   Both use the same HTTP engine (httpx API over infra.http_transport.AiohttpTransport).
   The challenger is `fixed` (bench_worker_responder.py: a bare asyncio responder, a few tens of µs
   per call, so the figure is the worker's) or `sim` (the sim model, Starlette/uvicorn).
   The floor: a bare aiohttp client (uvloop, its own process) calling the same challenger, with
   nothing else (no Kafka, no claims, no scoring, no ClickHouse): one call per event caps any Python
   worker on this machine at about that rate.
2. Freshness: the worker running, events published at --rate for --seconds; for each event,
   (its row's server-side `inserted_at` in ClickHouse) - (publish time), p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_gateway_load import cpu_seconds
from bench_worker_common import Children, bench_stack, challenger, run_settings, wait_rows
from producers.publisher import EventPublisher
from schemas.clickhouse import SCORES_TABLE
from infra.http_transport import AiohttpTransport
from infra.clickhouse import connect
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest
from schemas.settings import Settings
from schemas.topics import ensure_topics
from stream_agents.challenger_client import ChallengerClient
from stream_agents.scoring.record import score_result
from stream_agents.sink import SCORE_COLUMNS, records_to_columns


def event(i: int, app: str) -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(event_id=f"{app}-{i:07d}", app=app, route="/v1/chat/completions", ts_request=now,
                          ts_response=now, production_model="gpt-4",
                          request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(
                              role="user", content=f"Explain item {i} of the catalogue in two sentences.")]),
                          response=CapturedResponse(status_code=200, text=f"Item {i} is a fine item. " * 8),
                          latency_ms=120.0, request_hash=f"h{i}")


def publish(settings, first: int, last: int) -> None:
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:
        for i in range(first, last + 1):
            while not pub.publish(event(i, settings.app_name)):
                time.sleep(0.01)


def measure_drain(settings, client, n: int, start_consumer) -> tuple[float, float]:
    """(events/s, consumer CPU ms per event) with the consumer running and warm: one event is processed
    first, then `n` are published at once; the clock runs from the first publish to the last row."""
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    consumer = start_consumer(settings, n + 1)
    try:
        publish(settings, 0, 0)
        wait_rows(client, settings.app_name, 1, 180, consumer)
        started, cpu_before = time.monotonic(), cpu_seconds(consumer.pid)
        publish(settings, 1, n)
        last, count = wait_rows(client, settings.app_name, n + 1, 900, consumer)
        cpu_ms = (cpu_seconds(consumer.pid) - cpu_before) * 1000 / n
    finally:
        consumer.stop()
    if count < n + 1:
        raise SystemExit(f"only {count - 1}/{n} rows arrived in 15 minutes")
    return n / max(last - started, 1e-3), cpu_ms


class HandLoopProcess:
    """The hand-written loop in its own process, like the worker: neither shares the bench's GIL."""

    name = "hand-written loop"

    def __init__(self, settings, n: int) -> None:
        self._process = multiprocessing.get_context("spawn").Process(
            target=_run_hand_loop, args=(settings.model_dump_json(), n), daemon=True)
        self._process.start()
        self.pid = self._process.pid

    def alive(self) -> bool:
        return self._process.is_alive()

    def log_tail(self) -> str:
        return f"exit code {self._process.exitcode} (its traceback is on this bench's stderr)"

    def stop(self) -> None:
        self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()


def _run_hand_loop(settings_json: str, n: int) -> None:
    asyncio.run(hand_loop(Settings.model_validate_json(settings_json), n))


async def hand_loop(settings, n: int) -> None:
    """The same work with no framework: one consumer, concurrent calls, one insert and commit per batch."""
    import httpx
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(settings.topics.requests, bootstrap_servers=settings.kafka_bootstrap,
                                group_id=settings.consumer_group, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=500)
    store = connect(settings.clickhouse_url)
    await consumer.start()
    done = 0
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport(max_connections=64)) as http:
            clients = [ChallengerClient(c, http, price=settings.challenger_price(c)) for c in settings.challengers]
            while done < n:
                batches = await consumer.getmany(timeout_ms=500, max_records=500)
                events = [InferenceEvent.model_validate_json(m.value) for ms in batches.values() for m in ms]
                if not events:
                    continue
                outcomes = await asyncio.gather(*(c.call(e) for e in events for c in clients))
                records = [score_result(o.result, settings.price_of("gpt-4")) for o in outcomes]
                await asyncio.to_thread(store.insert, SCORES_TABLE, records_to_columns(records),
                                        column_names=SCORE_COLUMNS, column_oriented=True)
                await consumer.commit()
                done += len(events)
    finally:
        await consumer.stop()
        store.close()


def _bare_calls(url: str, n: int, out) -> None:
    import aiohttp
    import uvloop

    body = event(0, "floor").request.model_dump_json().encode()

    async def run() -> tuple[float, float]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            gate = asyncio.Semaphore(64)

            async def call() -> None:
                async with gate, session.post(f"{url}/chat/completions", data=body,
                                              headers={"content-type": "application/json"}) as answer:
                    answer.raise_for_status()
                    await answer.read()

            await asyncio.gather(*(call() for _ in range(200)))  # warm: connections open
            began, cpu_before = time.monotonic(), cpu_seconds(os.getpid())
            await asyncio.gather(*(call() for _ in range(n)))
            return n / (time.monotonic() - began), (cpu_seconds(os.getpid()) - cpu_before) * 1e6 / n

    out.put(uvloop.run(run()))


def measure_call_floor(url: str, n: int) -> tuple[float, float]:
    """(calls/s, CPU µs per call) of a bare aiohttp client against the challenger, in its own process."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=_bare_calls, args=(url, n, out), daemon=True)
    process.start()
    try:
        return out.get(timeout=300)
    finally:
        process.join(timeout=30)


def measure_freshness(children: Children, settings, client, rate: float, seconds: float) -> list[float]:
    """Seconds from publish to the row's arrival in ClickHouse (its server-side `inserted_at`, the first
    copy's), read once at the end: polling during the run would compete with the worker for the cores."""
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    worker = children.start("worker-fresh", settings, "worker")
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:  # warm-up: worker ready
        pub.publish(event(0, settings.app_name))
    wait_rows(client, settings.app_name, 1, 180, worker)
    published: dict[str, float] = {}
    total = int(rate * seconds)
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:
        start = time.time()
        for i in range(1, total + 1):
            target = start + i / rate
            time.sleep(max(0.0, target - time.time()))
            e = event(i, settings.app_name)
            published[e.event_id] = time.time()
            pub.publish(e)
    wait_rows(client, settings.app_name, total + 1, 120, worker)
    worker.stop()
    rows = client.query("SELECT event_id, toFloat64(min(inserted_at)) FROM shadow_scores WHERE app = {a:String} "
                        "GROUP BY event_id", parameters={"a": settings.app_name}).result_rows
    arrived = dict(rows)
    return sorted(arrived[k] - published[k] for k in published if k in arrived)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--challenger", choices=("fixed", "sim"), default="fixed")
    args = parser.parse_args()
    children = Children(Path(tempfile.mkdtemp(prefix="bench-worker-logs-")))
    with bench_stack() as base:
        client = connect(base.clickhouse_url)
        try:
            url = children.fixed() if args.challenger == "fixed" else children.sim(base, "fast-challenger")
            common = {"challengers": [challenger("fast", url)], "replay_batch_size": 500,
                      "replay_concurrency": 64, "sink_batch_size": 2000, "sink_batch_seconds": 0.2}
            hand, hand_cpu = measure_drain(run_settings(base, **common), client, args.events, HandLoopProcess)
            faust_rate, faust_cpu = measure_drain(run_settings(base, **common), client, args.events,
                                                  lambda settings, _n: children.start("worker", settings, "worker"))
            print(f"events={args.events}  hand-written aiokafka+httpx loop: {hand:,.0f} ev/s; faust worker "
                  f"{faust_rate:,.0f} ev/s ({faust_rate / hand:.2f}x)", flush=True)
            floor_rate, floor_cpu = measure_call_floor(url, 3 * args.events)
            fresh = measure_freshness(children, run_settings(base, **{**common, "replay_batch_size": 64}), client,
                                      args.rate, args.seconds)
        finally:
            children.stop()
            client.close()
    p50 = statistics.median(fresh) if fresh else float("nan")
    p99 = fresh[min(len(fresh) - 1, int(len(fresh) * 0.99))] if fresh else float("nan")
    print(f"challenger: {args.challenger}; events={args.events}  hand-written aiokafka+httpx loop: {hand:,.0f} ev/s "
          f"({hand_cpu:.2f} ms CPU per event)")
    print(f"faust worker (replay+scoring -> sink; SHADOW_SCORE_IN_REPLAY):       {faust_rate:,.0f} ev/s "
          f"({faust_cpu:.2f} ms CPU per event)  ratio vs hand loop {faust_rate / hand:.2f}x")
    print(f"floor: a bare aiohttp client alone, same challenger:                {floor_rate:,.0f} calls/s "
          f"({floor_cpu:.0f} µs CPU per call)")
    print(f"freshness at {args.rate:.0f} ev/s for {args.seconds:.0f}s ({len(fresh)} events seen): "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
