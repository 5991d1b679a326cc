"""Benchmark the gateway: added latency, capture() cost, sampling accuracy, RSS, bounded publisher buffer.

All figures come from one run on this machine and are printed as ratios against the baseline
measured in the same run (these machines are noisy):

1. Added latency. The same closed-loop load (C keep-alive connections) is sent straight to a local
   upstream that thinks 20 ms per request, and through the gateway with mirroring off (ratio 0) and
   on (every request published to a real Kafka broker), and through a bare aiohttp proxy (read, parse,
   forward, answer; nothing else): the floor for any Python proxy on this machine. Rounds are
   interleaved (direct, bare, off, on, ...) so drift of the machine hits all four alike. Printed:
   p50/p99 of each, the proxy's own overhead (off - direct), the floor's (bare - direct), what
   mirroring adds (on - off) as a share of end-to-end p99.
2. Gateway RSS under that load (VmRSS of the mirroring gateway, sampled every second).
3. `capture()` alone: median and p99 per call (typical 1 KB chat request, redaction on).
4. Sampling accuracy at 100k keys, per configured ratio.
5. Publisher buffer with Kafka down: RSS growth while 3x the buffer is offered, vs the cap.

    python bench/bench_gateway.py                 # ~3 minutes; starts its own Kafka unless
    SHADOW_KAFKA_BOOTSTRAP=host:9092 python bench/bench_gateway.py --seconds 10 --rounds 3 --connections 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_gateway_load import (cpu_seconds, http_load, percentile, rss_mb, serve_bare_proxy,  # noqa: E402
                                serve_upstream)

PROMPT = ("Summarise the following support ticket in two sentences and propose a next step. Customer "
          "jane.doe@example.com writes: my invoice for October shows the premium plan twice, although I downgraded "
          "in September. I attached the screenshot of the billing page. Please fix it before the next charge. "
          "Order reference 88213-A, account created 2021. ") * 2
REQUEST = json.dumps({"model": "gpt-4", "messages": [{"role": "system", "content": "You are a helpful agent."},
                                                      {"role": "user", "content": PROMPT}],
                      "temperature": 0.2, "user": "user-42"}).encode()


BARE = "bare aiohttp proxy (floor)"


def _spawn(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__)), *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_http(port: int, path: str, timeout_s: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}{path} within {timeout_s}s")


def _wait_tcp(port: int, timeout_s: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listened on port {port} within {timeout_s}s")


def run_gateway_process(args: argparse.Namespace) -> None:
    """Child: a gateway as `shadow-optic gateway` runs it, with the settings given as JSON."""
    from schemas.settings import Settings
    from shadow_optic.runners import run_gateway

    run_gateway(Settings(**json.loads(args.settings_json)))


def buffer_probe(buffer_bytes: int) -> None:
    """Child: offer 3x the buffer to a publisher whose broker is down; print RSS before/after as JSON."""
    from datetime import UTC, datetime

    from producers.publisher import EventPublisher
    from schemas.events import CapturedResponse, InferenceEvent, NormalizedRequest

    publisher = EventPublisher("127.0.0.1:1", "shadow.requests", buffer_bytes)
    now = datetime.now(UTC)
    event = InferenceEvent(event_id="x" * 26, route="/v1/chat/completions", ts_request=now, ts_response=now,
                           production_model="m", request=NormalizedRequest(model="m", prompt=PROMPT),
                           response=CapturedResponse(status_code=200, text=PROMPT), latency_ms=1, request_hash="h")
    size = len(event.model_dump_json())
    before = rss_mb(os.getpid())
    samples = []
    offered = 3 * buffer_bytes // size
    for i in range(offered):
        publisher.publish(event)
        if i % (offered // 10) == 0:
            samples.append(rss_mb(os.getpid()))
    after = rss_mb(os.getpid())
    counts = publisher.counters.snapshot()
    print(json.dumps({"event_bytes": size, "offered": offered, "before_mb": before, "after_mb": after,
                      "peak_mb": max(samples + [after]), **counts}))
    os._exit(0)  # do not wait 10 s flushing to a broker that is not there


def start_kafka_for_bench(tmp: Path) -> tuple[str, object | None]:
    if os.environ.get("SHADOW_KAFKA_BOOTSTRAP"):
        return os.environ["SHADOW_KAFKA_BOOTSTRAP"], None
    from schemas.settings import Settings
    from shadow_optic.stack.kafka_broker import ensure_kafka_jars, start_kafka, wait_for_kafka
    from shadow_optic.stack.processes import free_port

    settings = Settings()
    libs = ensure_kafka_jars(settings.cache_dir, settings.kafka_version)
    port, controller = free_port(), free_port()
    process = start_kafka(libs, tmp / "kafka", port, controller, heap_mb=384)
    wait_for_kafka(f"127.0.0.1:{port}", process, 120)
    return f"127.0.0.1:{port}", process


def bench_capture(bootstrap: str, calls: int) -> dict[str, float]:
    from producers.mirror import CaptureConfig, Mirror
    from producers.publisher import EventPublisher

    response = {"model": "gpt-4-0613", "choices": [{"message": {"role": "assistant", "content": PROMPT[:400]},
                                                     "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 180, "completion_tokens": 90}}
    body = json.loads(REQUEST)
    with EventPublisher(bootstrap, f"bench.capture.{os.getpid()}") as publisher:
        mirror = Mirror(CaptureConfig(), publisher)
        timings = []
        for _ in range(calls):
            t0 = time.perf_counter()
            mirror.capture(body, response, route="/v1/chat/completions", headers={"x-shadow-tenant": "t"},
                           latency_ms=20.0)
            timings.append((time.perf_counter() - t0) * 1e6)
    timings.sort()
    return {"median_us": statistics.median(timings), "p99_us": percentile(timings, 99)}


def bench_sampling(n: int = 100_000) -> list[tuple[float, float]]:
    from producers.sampling import SamplingPolicy

    rows = []
    for ratio in (0.01, 0.05, 0.1, 0.25, 0.5):
        policy = SamplingPolicy(ratio, key_sources=["body:user"])
        hits = sum(policy.decide("/v1/chat/completions", policy.key({}, {"user": f"user-{i}"}, None, ""))
                   for i in range(n))
        rows.append((ratio, hits / n))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="per measured segment")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; ratios are their median")
    parser.add_argument("--connections", type=int, default=10, help="closed-loop clients (~50 req/s each)")
    parser.add_argument("--think-ms", type=float, default=20.0)
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks of the mirroring gateway to this file")
    parser.add_argument("--capture-queue", type=int, default=10_000,
                        help="SHADOW_GATEWAY_CAPTURE_QUEUE of both gateways (0: capture on the serving loop)")
    parser.add_argument("--capture-calls", type=int, default=20_000)
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-gateway", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-bare-proxy", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--upstream-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--settings-json", help=argparse.SUPPRESS)
    parser.add_argument("--buffer-probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        asyncio.run(serve_upstream(args.serve_upstream, args.think_ms / 1000))
        return 0
    if args.serve_gateway:
        run_gateway_process(args)
        return 0
    if args.serve_bare_proxy:
        serve_bare_proxy(args.serve_bare_proxy, args.upstream_port)
        return 0
    if args.buffer_probe:
        buffer_probe(args.buffer_probe)
        return 0

    from shadow_optic.stack.processes import free_port

    children: list[subprocess.Popen] = []
    kafka = None
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        try:
            began = time.monotonic()
            bootstrap, kafka = start_kafka_for_bench(Path(tmp))
            print(f"kafka at {bootstrap} ({time.monotonic() - began:.0f}s)", flush=True)
            up_port, bare_port, off_port, on_port = free_port(), free_port(), free_port(), free_port()
            children.append(_spawn("--serve-upstream", str(up_port), "--think-ms", str(args.think_ms)))
            bare = _spawn("--serve-bare-proxy", str(bare_port), "--upstream-port", str(up_port))
            children.append(bare)
            common = {"production_url": f"http://127.0.0.1:{up_port}/v1", "kafka_bootstrap": bootstrap,
                      "topic_prefix": f"bench{os.getpid()}.", "app_name": "bench",
                      "gateway_capture_queue": args.capture_queue}
            off = _spawn("--serve-gateway", "--settings-json",
                         json.dumps({**common, "gateway_port": off_port, "sample_ratio": 0.0}))
            on = _spawn("--serve-gateway", "--settings-json",
                        json.dumps({**common, "gateway_port": on_port, "sample_ratio": 1.0}))
            children += [off, on]
            for port in (off_port, on_port):
                _wait_http(port, "/healthz")
            _wait_tcp(bare_port)
            targets = {"direct": up_port, BARE: bare_port, "gateway, mirroring off": off_port,
                       "gateway, mirroring on": on_port}
            pids = {BARE: bare.pid, "gateway, mirroring off": off.pid, "gateway, mirroring on": on.pid}
            latencies = asyncio.run(_latency_rounds(targets, args, on.pid, pids))
            _print_latency(latencies, args)
            health = json.loads(_get(on_port, "/healthz"))
            print(f"mirroring gateway publisher: {health['publisher']} pending={health['publisher_pending']}")
        finally:
            for child in children:
                child.terminate()
            for child in children:
                try:
                    child.wait(15)
                except subprocess.TimeoutExpired:
                    child.kill()

        cap = bench_capture(bootstrap, args.capture_calls)
        print(f"\ncapture() alone, {args.capture_calls} calls, 1 KB chat request with PII: "
              f"median {cap['median_us']:.0f} µs, p99 {cap['p99_us']:.0f} µs")
        if kafka is not None:
            kafka.stop(timeout_s=20)

    print("\nsampling accuracy, 100k keys (body:user):")
    for ratio, observed in bench_sampling():
        print(f"  configured {ratio:6.2%}  observed {observed:7.3%}  |diff| {abs(observed - ratio) * 100:.3f} pp")

    print("\npublisher buffer with Kafka down (3x the cap offered):")
    for cap_mb in (16, 64):
        out = subprocess.run([sys.executable, str(Path(__file__)), "--buffer-probe", str(cap_mb * 1024 * 1024)],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
        probe = json.loads(out.stdout.strip().splitlines()[-1])
        growth = probe["peak_mb"] - probe["before_mb"]
        print(f"  cap {cap_mb} MB: offered {probe['offered']} events of {probe['event_bytes']} B, "
              f"queued {probe['enqueued']}, dropped {probe['dropped_buffer_full']}; RSS {probe['before_mb']:.0f} -> "
              f"{probe['after_mb']:.0f} MB (peak growth {growth:.0f} MB = {growth / cap_mb:.2f}x the cap)")
    return 0


def _get(port: int, path: str) -> str:
    import urllib.request

    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()


async def _latency_rounds(targets: dict[str, int], args: argparse.Namespace, gateway_pid: int,
                          pids: dict[str, int]) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {name: [] for name in targets}
    per_round: list[dict[str, float]] = []  # p99 of each mode in each round: the ratios are taken per round
    cpu: dict[str, list[float]] = {name: [0.0, 0.0] for name in pids}
    rss: list[float] = []
    for name, port in targets.items():  # warm-up: connections, JIT-less but caches and pools
        await http_load(port, "/v1/chat/completions", REQUEST, args.connections, 1.5)
    spy = None
    if args.profile:  # py-spy samples the mirroring gateway over all rounds (bench/profile_summary.py)
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(gateway_pid), "--format", "raw", "-o",
                                str(args.profile), "--nonblocking", "--rate", "250"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)
    for round_no in range(args.rounds):
        per_round.append({})
        for name, port in targets.items():
            sampler = asyncio.create_task(_sample_rss(gateway_pid, rss)) if "on" in name else None
            cpu_before = cpu_seconds(pids[name]) if name in pids else 0.0
            lat = await http_load(port, "/v1/chat/completions", REQUEST, args.connections, args.seconds)
            if name in pids:
                cpu[name][0] += cpu_seconds(pids[name]) - cpu_before
                cpu[name][1] += len(lat)
            if sampler:
                sampler.cancel()
            results[name] += lat
            per_round[-1][name] = percentile(sorted(lat), 99)
            print(f"  round {round_no + 1} {name:<24} {len(lat) / args.seconds:6.0f} req/s  "
                  f"p50 {percentile(sorted(lat), 50):6.2f} ms  p99 {percentile(sorted(lat), 99):6.2f} ms", flush=True)
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
    results["_rss"] = rss
    results["_rounds"] = per_round  # type: ignore[assignment]
    for name, (seconds, requests) in cpu.items():
        print(f"  gateway CPU per request, {name}: {seconds / max(requests, 1) * 1000:.2f} ms "
              f"({seconds:.1f} s CPU for {requests:.0f} requests)")
    return results


async def _sample_rss(pid: int, into: list[float]) -> None:
    while True:
        into.append(rss_mb(pid))
        await asyncio.sleep(1.0)


def _print_latency(results: dict[str, list[float]], args: argparse.Namespace) -> None:
    rss = results.pop("_rss")
    rounds: list[dict[str, float]] = results.pop("_rounds")  # type: ignore[assignment]
    stats = {name: (percentile(sorted(v), 50), percentile(sorted(v), 99), len(v)) for name, v in results.items()}
    d50, d99, _ = stats["direct"]
    b50, b99, _ = stats[BARE]
    f50, f99, _ = stats["gateway, mirroring off"]
    n50, n99, _ = stats["gateway, mirroring on"]
    print(f"\nadded latency, upstream think time {args.think_ms:.0f} ms, {args.connections} connections, "
          f"{args.rounds} x {args.seconds:.0f} s per mode:")
    for name, (p50, p99, n) in stats.items():
        print(f"  {name:<24} n={n:<7} p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  ratio to direct p50 {p50 / d50:.3f} "
              f"p99 {p99 / d99:.3f}")
    print(f"  proxy overhead (off - direct): p50 {f50 - d50:+.2f} ms, p99 {f99 - d99:+.2f} ms")
    print(f"  floor: a bare aiohttp proxy adds p50 {b50 - d50:+.2f} ms, p99 {b99 - d99:+.2f} ms; the gateway "
          f"adds p50 {f50 - b50:+.2f} ms, p99 {f99 - b99:+.2f} ms over it")
    print(f"  mirroring adds (on - off):     p50 {n50 - f50:+.2f} ms, p99 {n99 - f99:+.2f} ms "
          f"= {(n99 - f99) / n99 * 100:+.2f} % of end-to-end p99")
    # The targets, each the median over rounds of the ratio within one round (rounds are interleaved,
    # so a slow spell of the machine hits the four modes of a round alike).
    share = [(r["gateway, mirroring on"] - r["gateway, mirroring off"]) / r["gateway, mirroring on"] * 100
             for r in rounds]
    # A round whose bare-proxy p99 is not above the direct one's (the p99 of a few hundred requests moves
    # by more than the proxy adds) has no overhead to divide by: such rounds are counted, not used.
    usable = [r for r in rounds if r[BARE] - r["direct"] > 0.1]
    overhead = [(r["gateway, mirroring off"] - r["direct"]) / (r[BARE] - r["direct"]) for r in usable]
    spread = {name: max(r[name] for r in rounds) - min(r[name] for r in rounds) for name in rounds[0]}
    print(f"  per round, mirroring's share of end-to-end p99 (%): {', '.join(f'{x:+.2f}' for x in share)}")
    print(f"  per round, gateway overhead / bare proxy overhead (p99): {', '.join(f'{x:.2f}' for x in overhead)}"
          f" ({len(rounds) - len(usable)} of {len(rounds)} rounds left out: bare p99 not above direct)")
    print(f"  noise: p99 of the same mode moved by {', '.join(f'{k} {v:.1f} ms' for k, v in spread.items())} "
          "across rounds")
    print(f"  RATIO mirroring adds {statistics.median(share):+.2f} % of end-to-end p99 (median of {len(rounds)} "
          f"rounds; target <= 1 %)")
    if overhead:
        print(f"  RATIO gateway overhead = {statistics.median(overhead):.2f}x the bare proxy's (p99, median of "
              f"{len(overhead)} rounds; target <= 1.3x)")
    print(f"  pooled over all rounds: gateway overhead {f99 - d99:+.2f} ms vs bare {b99 - d99:+.2f} ms p99 "
          f"= {(f99 - d99) / (b99 - d99) if b99 > d99 else float('nan'):.2f}x; mirroring "
          f"{(n99 - f99) / n99 * 100:+.2f} % of end-to-end p99")
    if rss:
        print(f"  mirroring gateway RSS under load: first {rss[0]:.0f} MB, last {rss[-1]:.0f} MB, "
              f"max {max(rss):.0f} MB over {len(rss)} samples")


if __name__ == "__main__":
    sys.exit(main())
