"""Worker throughput against a hand-written loop, CPU per event against a bare call, an in-process
scikit-learn challenger, scaling over worker processes, and freshness; all in one run.

    python bench/bench_worker.py [--events 4000] [--rounds 5] [--scale 1,2,4] [--sklearn-events 4000]
                                 [--rate 300 --seconds 10] [--profile stacks.txt] [--challenger fixed|sim]

1. Throughput, `--rounds` interleaved rounds (hand loop, Faust worker, hand loop, ...): the Faust
   worker (replay+scoring -> sink, SHADOW_SCORE_IN_REPLAY) and a hand-written loop (aiokafka getmany
   -> httpx calls -> score_result -> one ClickHouse insert per batch -> commit), each in its own
   process, running and warm (one event processed first); then N events are published at once.
   Rate = N / (last row - first publish); CPU per event = the consumer process's utime+stime / N.
   The ratios printed (RATIO lines) are medians over the rounds.
   Both use the same HTTP engine (httpx API over infra.http_transport.AiohttpTransport).
   The challenger is `fixed` (bench_worker_responder.py: a bare asyncio responder, a few tens of µs
   per call, so the figure is the worker's) or `sim` (the sim model, Starlette/uvicorn).
   The floor: a bare aiohttp client (uvloop, its own process) calling the same challenger, with
   nothing else (no Kafka, no claims, no scoring, no ClickHouse).
   `--profile FILE`: py-spy samples the first Faust drain (raw stacks; `bench/profile_summary.py FILE`).
2. In-process challenger: kind python, bench_sklearn_model.predict (a random forest trained on
   scikit-learn's breast-cancer data set, batch-aware, on the worker's loop), events of a classical
   model (/models/cancer/predict); events/s per worker beside the model's own predict time.
3. Scaling: 1, 2, 4 worker processes in one consumer group on a topic with max(4, k) partitions,
   same fixed challenger; the idle cores of the machine measured just before (/proc/stat).
4. Freshness: the worker running, events published at --rate for --seconds; for each event,
   (its row's server-side `inserted_at` in ClickHouse) - (publish time), p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: its packages and `bench.`

from bench_gateway_load import cpu_seconds  # noqa: E402
from bench_worker_common import Children, bench_stack, challenger, run_settings, wait_rows  # noqa: E402
from infra.clickhouse import connect  # noqa: E402
from infra.http_transport import AiohttpTransport  # noqa: E402
from infra.kafka_clients import ensure_topics  # noqa: E402
from producers.publisher import EventPublisher  # noqa: E402
from schemas.clickhouse import SCORES_TABLE  # noqa: E402
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest  # noqa: E402
from schemas.settings import ChallengerConfig, Settings  # noqa: E402
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


def sklearn_event(i: int, app: str) -> InferenceEvent:
    """A request to a classical model (/models/cancer/predict): one row of the breast-cancer data set,
    production's answer from bench_sklearn_model.PRODUCTION (computed once per row, cached)."""
    from bench import bench_sklearn_model as model

    row = i % len(model.ROWS)
    if row not in _PRODUCTION_LABELS:
        _PRODUCTION_LABELS.update(enumerate(model.PRODUCTION.predict(model.ROWS).tolist()))
    now = datetime.now(UTC)
    return InferenceEvent(event_id=f"{app}-{i:07d}", app=app, route="/models/cancer/predict", ts_request=now,
                          ts_response=now, production_model="cancer-logreg", latency_ms=2.0, request_hash=f"h{row}",
                          request=NormalizedRequest(kind="json", model="cancer-logreg",
                                                    params=model.features(model.ROWS[row])),
                          response=CapturedResponse(status_code=200, text=json.dumps({"label": _PRODUCTION_LABELS[row]})))


_PRODUCTION_LABELS: dict[int, int] = {}


def publish(settings, first: int, last: int, make=event) -> None:
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:
        for i in range(first, last + 1):
            while not pub.publish(make(i, settings.app_name)):
                time.sleep(0.01)


def measure_drain(settings, client, n: int, start_consumer, profile: Path | None = None, make=event,
                  warm: int = 1) -> tuple[float, float]:
    """(events/s, consumer CPU ms per event) with the consumer running and warm: one event is processed
    first, then `n` are published at once; the clock runs from the first publish to the last row.
    With `profile`, py-spy samples the consumer during the drain (raw stacks; see profile_summary.py)."""
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    consumer = start_consumer(settings, n + 1)
    spy = None
    try:
        publish(settings, 0, warm - 1, make)  # several warm-up events reach every partition (several workers)
        wait_rows(client, settings.app_name, warm, 180, consumer)
        if warm > 1:
            time.sleep(3.0)  # the group has settled
        if profile is not None:
            spy = subprocess.Popen(["py-spy", "record", "--pid", str(consumer.pid), "--format", "raw", "-o",
                                    str(profile), "--nonblocking", "--rate", "250"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # attached
        started, cpu_before = time.monotonic(), consumer_cpu(consumer)
        publish(settings, warm, warm + n - 1, make)
        last, count = wait_rows(client, settings.app_name, n + warm, 900, consumer)
        cpu_ms = (consumer_cpu(consumer) - cpu_before) * 1000 / n
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
        consumer.stop()
    if count < n + warm:
        raise SystemExit(f"only {count - warm}/{n} rows arrived in 15 minutes")
    return n / max(last - started, 1e-3), cpu_ms


def consumer_cpu(consumer) -> float:
    return consumer.cpu() if hasattr(consumer, "cpu") else cpu_seconds(consumer.pid)


class WorkerGroup:
    """k worker processes in one consumer group (the scaling figure): alive while all are."""

    def __init__(self, children: Children, settings, k: int) -> None:
        self.name = f"{k} workers"
        self.procs = [children.start(f"worker-{k}-{i}", settings, "worker") for i in range(k)]
        self.pid = self.procs[0].pid

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.procs)

    def alive(self) -> bool:
        return all(p.alive() for p in self.procs)

    def log_tail(self) -> str:
        return "\n".join(p.log_tail() for p in self.procs if not p.alive())

    def stop(self) -> None:
        for p in self.procs:
            p.stop(timeout_s=15)


def free_cores(seconds: float = 2.0) -> float:
    """Idle cores of this machine over `seconds` (/proc/stat), before a measurement starts."""
    def idle_total() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)
    i0, t0 = idle_total()
    time.sleep(seconds)
    i1, t1 = idle_total()
    return (i1 - i0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


def model_predict_us(batch: int, repeat: int = 200) -> float:
    """The challenger model's own predict time per event, in this process, at a given batch size."""
    from bench import bench_sklearn_model as model

    bodies = [model.features(row) for row in model.ROWS[:batch]]
    model.predict(bodies)
    began = time.perf_counter()
    for _ in range(repeat):
        model.predict(bodies)
    return (time.perf_counter() - began) / repeat / batch * 1e6


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
    parser.add_argument("--events", type=int, default=4000, help="events per drain")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved hand-loop/Faust rounds; ratios are medians")
    parser.add_argument("--rate", type=float, default=300.0, help="freshness: events/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="freshness: seconds (0: skip)")
    parser.add_argument("--challenger", choices=("fixed", "sim"), default="fixed")
    parser.add_argument("--scale", default="1,2,4", help="worker processes for the scaling figure ('' to skip)")
    parser.add_argument("--sklearn-events", type=int, default=4000, help="in-process challenger drain (0: skip)")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of the first Faust drain to this file")
    args = parser.parse_args()
    children = Children(Path(tempfile.mkdtemp(prefix="bench-worker-logs-")))
    hand_rates, hand_cpus, faust_rates, faust_cpus = [], [], [], []
    sk_rate = sk_cpu = float("nan")
    scaling: list[tuple[int, float, float, float]] = []
    fresh: list[float] = []
    with bench_stack() as base:
        client = connect(base.clickhouse_url)
        try:
            url = children.fixed() if args.challenger == "fixed" else children.sim(base, "fast-challenger")
            common = {"challengers": [challenger("fast", url)], "replay_batch_size": 500,
                      "replay_concurrency": 64, "sink_batch_size": 2000, "sink_batch_seconds": 0.2}
            cores = free_cores()
            for round_no in range(args.rounds):  # interleaved: a slow spell of the host hits both alike
                hand, hand_cpu = measure_drain(run_settings(base, **common), client, args.events, HandLoopProcess)
                profile = args.profile if round_no == 0 else None
                rate, cpu = measure_drain(run_settings(base, **common), client, args.events,
                                          lambda settings, _n: children.start("worker", settings, "worker"), profile)
                hand_rates.append(hand), hand_cpus.append(hand_cpu), faust_rates.append(rate), faust_cpus.append(cpu)
                print(f"round {round_no + 1}: hand-written loop {hand:,.0f} ev/s ({hand_cpu:.2f} ms CPU/ev); "
                      f"faust worker {rate:,.0f} ev/s ({cpu:.2f} ms CPU/ev); ratio {rate / hand:.2f}x", flush=True)
            floor_rate, floor_cpu = measure_call_floor(url, 3 * args.events)
            if args.sklearn_events:
                python_challenger = ChallengerConfig(name="cancer-forest", model="cancer-forest", kind="python",
                                                     target="bench.bench_sklearn_model:predict", max_batch=64)
                sk = {**common, "challengers": [python_challenger]}
                sk_rate, sk_cpu = measure_drain(run_settings(base, **sk), client, args.sklearn_events,
                                                lambda settings, _n: children.start("worker-sk", settings, "worker"),
                                                make=sklearn_event)
                print(f"in-process scikit-learn challenger: {sk_rate:,.0f} ev/s ({sk_cpu:.2f} ms CPU/ev)", flush=True)
            for k in [int(x) for x in args.scale.split(",") if x.strip()]:
                free = free_cores()
                settings = run_settings(base, **{**common, "topic_partitions": max(4, k)})
                rate, cpu = measure_drain(settings, client, args.events,
                                          lambda settings, _n, k=k: WorkerGroup(children, settings, k), warm=8 * k)
                scaling.append((k, rate, cpu, free))
                print(f"scaling: {k} worker process(es): {rate:,.0f} ev/s ({cpu:.2f} ms CPU/ev), "
                      f"{free:.1f} of {os.cpu_count()} cores free before", flush=True)
            if args.seconds:
                fresh = measure_freshness(children, run_settings(base, **{**common, "replay_batch_size": 64}),
                                          client, args.rate, args.seconds)
        finally:
            children.stop()
            client.close()
    ratios = [f / h for f, h in zip(faust_rates, hand_rates)]
    cpu_ratios = [c / (floor_cpu / 1000) for c in faust_cpus]
    print(f"\nchallenger: {args.challenger}; {args.events} events per drain, {args.rounds} interleaved rounds; "
          f"{cores:.1f} of {os.cpu_count()} cores free at the start")
    print(f"hand-written aiokafka+httpx loop: median {statistics.median(hand_rates):,.0f} ev/s "
          f"({statistics.median(hand_cpus):.2f} ms CPU per event)")
    print(f"faust worker (replay+scoring -> sink): median {statistics.median(faust_rates):,.0f} ev/s "
          f"({statistics.median(faust_cpus):.2f} ms CPU per event)")
    print(f"floor: a bare aiohttp client alone, same challenger: {floor_rate:,.0f} calls/s ({floor_cpu:.0f} µs CPU per call)")
    print(f"RATIO faust worker / hand-written loop (throughput): {statistics.median(ratios):.2f}x "
          f"(median of {len(ratios)}: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 1.0x)")
    print(f"RATIO faust CPU per event / bare call's: {statistics.median(cpu_ratios):.1f}x "
          f"(median of {len(cpu_ratios)}; target <= 4x)")
    if args.sklearn_events:
        print(f"in-process scikit-learn challenger (random forest, batch-aware, inline): {sk_rate:,.0f} ev/s per worker "
              f"({sk_cpu:.2f} ms CPU per event); the model's own predict: {model_predict_us(64):.0f} µs per event "
              f"in batches of 64, {model_predict_us(1, 100):.0f} µs one at a time")
    for k, rate, cpu, free in scaling:
        print(f"scaling, {k} worker process(es), {max(4, k)} partitions: {rate:,.0f} ev/s ({cpu:.2f} ms CPU per event; "
              f"{rate / scaling[0][1]:.2f}x {scaling[0][0]} worker process(es)); {free:.1f} of {os.cpu_count()} cores free "
              "before")
    if fresh:
        p50 = statistics.median(fresh)
        p99 = fresh[min(len(fresh) - 1, int(len(fresh) * 0.99))]
        print(f"freshness at {args.rate:.0f} ev/s for {args.seconds:.0f}s ({len(fresh)} events seen): "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
