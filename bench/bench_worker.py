"""Worker throughput and freshness, against a hand-written aiokafka + httpx loop in the same run.

    python bench/bench_worker.py [--events 6000] [--rate 1000] [--seconds 10] [--challenger fixed|sim]

1. Throughput: N events pre-published; the Faust worker (replay+scoring -> sink by default, or replay ->
   scoring -> sink with SHADOW_SCORE_IN_REPLAY=false)
   and a hand-written loop (aiokafka getmany -> httpx calls -> score_result -> one ClickHouse
   insert per batch -> commit) each drain them. Rate = events / (last row - first row).
   Both use the same HTTP engine (httpx API over stream_agents.http_transport.AiohttpTransport).
   The challenger is `fixed` (bench_worker_responder.py: a bare asyncio responder, a few tens of µs
   per call, so the figure is the worker's) or `sim` (the sim model, Starlette/uvicorn).
2. Freshness: the worker running, events published at --rate for --seconds; for each event,
   (first time its row is visible in ClickHouse) - (publish time), p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench_worker_common import Children, bench_stack, challenger, run_settings, wait_rows
from producers.publisher import EventPublisher
from schemas.clickhouse import SCORES_TABLE, connect
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, ShadowResult, ShadowStatus
from schemas.topics import ensure_topics
from stream_agents.challenger_client import ChallengerClient
from stream_agents.http_transport import AiohttpTransport
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


def publish(settings, n: int) -> None:
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:
        for i in range(n):
            while not pub.publish(event(i, settings.app_name)):
                time.sleep(0.01)


def measure_worker(children: Children, settings, client, n: int) -> float:
    publish(settings, n)
    children.start("worker", settings, "worker")
    first, _ = wait_rows(client, settings.app_name, 1, 180)
    last, count = wait_rows(client, settings.app_name, n, 600)
    children.procs[-1].stop()
    return count / max(last - first, 1e-3)


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
            clients = [ChallengerClient(c, http) for c in settings.challengers]
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


def measure_hand_loop(settings, client, n: int) -> float:
    publish(settings, n)
    thread = threading.Thread(target=lambda: asyncio.run(hand_loop(settings, n)))
    thread.start()
    first, _ = wait_rows(client, settings.app_name, 1, 180)
    last, count = wait_rows(client, settings.app_name, n, 600)
    thread.join()
    return count / max(last - first, 1e-3)


def measure_freshness(children: Children, settings, client, rate: float, seconds: float) -> list[float]:
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    children.start("worker-fresh", settings, "worker")
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:  # warm-up: worker ready
        pub.publish(event(0, settings.app_name))
    wait_rows(client, settings.app_name, 1, 180)
    published: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            ids = client.query("SELECT event_id FROM shadow_scores WHERE app = {a:String}",
                               parameters={"a": settings.app_name}).result_columns
            now = time.time()
            for event_id in (ids[0] if ids else []):
                seen.setdefault(event_id, now)
            time.sleep(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    total = int(rate * seconds)
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:
        start = time.time()
        for i in range(1, total + 1):
            target = start + i / rate
            time.sleep(max(0.0, target - time.time()))
            e = event(i, settings.app_name)
            published[e.event_id] = time.time()
            pub.publish(e)
    deadline = time.time() + 60
    while len([k for k in published if k in seen]) < total and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    poller.join()
    children.procs[-1].stop()
    return sorted(seen[k] - published[k] for k in published if k in seen)


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
            hand = measure_hand_loop(run_settings(base, **common), client, args.events)
            faust_rate = measure_worker(children, run_settings(base, **common), client, args.events)
            print(f"events={args.events}  hand-written aiokafka+httpx loop: {hand:,.0f} ev/s; faust worker "
                  f"{faust_rate:,.0f} ev/s ({faust_rate / hand:.2f}x)", flush=True)
            fresh = measure_freshness(children, run_settings(base, **{**common, "replay_batch_size": 64}), client,
                                      args.rate, args.seconds)
        finally:
            children.stop()
            client.close()
    p50 = statistics.median(fresh) if fresh else float("nan")
    p99 = fresh[min(len(fresh) - 1, int(len(fresh) * 0.99))] if fresh else float("nan")
    print(f"challenger: {args.challenger}; events={args.events}  hand-written aiokafka+httpx loop: {hand:,.0f} ev/s")
    print(f"faust worker (replay+scoring -> sink; SHADOW_SCORE_IN_REPLAY):       {faust_rate:,.0f} ev/s  "
          f"ratio vs hand loop {faust_rate / hand:.2f}x")
    print(f"freshness at {args.rate:.0f} ev/s for {args.seconds:.0f}s ({len(fresh)} events seen): "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
