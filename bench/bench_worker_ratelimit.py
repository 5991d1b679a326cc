"""Rate-limit precision: W worker processes share one challenger capped at R calls/s.

    python bench/bench_worker_ratelimit.py [--workers 4] [--rate 20] [--seconds 20]

More events than the cap allows are published; the lag budget is off (slow down, never skip).
The sim model records each call's arrival; the rate observed over the steady window (after the
first call, before the backlog runs out) is compared with R. Baseline in the same run: the same
challenger without a limit, one worker (how fast the pipeline could call it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_worker_common import Children, bench_stack, challenger, http_json, run_settings
from infra.kafka_clients import ensure_topics
from producers.publisher import EventPublisher
from bench_worker import event


def observed_rate(arrivals: list[float], skip_s: float, window_s: float) -> tuple[float, int]:
    arrivals = sorted(arrivals)
    start = arrivals[0] + skip_s
    inside = [t for t in arrivals if start <= t < start + window_s]
    return len(inside) / window_s, len(inside)


def run(children: Children, base, workers: int, rate: float | None, seconds: float, events: int) -> list[float]:
    url = children.sim(base, f"capped-{len(children.procs)}")
    settings = run_settings(base, challengers=[challenger("capped", url, rate_limit_rps=rate)],
                            replay_lag_budget_s=0.0, replay_batch_size=64, topic_partitions=8)
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests) as pub:
        for i in range(events):
            pub.publish(event(i, settings.app_name))
    for w in range(workers):
        children.start(f"worker-{w}-{len(children.procs)}", settings, "worker")
    base_url = url.removesuffix("/v1")
    deadline = time.monotonic() + seconds + 90
    while time.monotonic() < deadline:
        arrivals = http_json(f"{base_url}/admin/arrivals")["arrivals"]
        if arrivals and (arrivals[-1] - arrivals[0] > seconds + 4 or len(arrivals) >= events):
            break
        time.sleep(1)
    return http_json(f"{base_url}/admin/arrivals")["arrivals"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    children = Children(Path(tempfile.mkdtemp(prefix="bench-rate-logs-")))
    events = int(args.rate * (args.seconds + 10) * 1.5)
    with bench_stack() as base:
        try:
            free = run(children, base, 1, None, 3.0, 2000)
            children.stop()
            capped = run(children, base, args.workers, args.rate, args.seconds, events)
        finally:
            children.stop()
    free_rate, _ = observed_rate(free, 0.5, max(0.5, (sorted(free)[-1] - sorted(free)[0]) - 1.0))
    # Skip the first seconds: the group is still rebalancing while the workers join.
    got, calls = observed_rate(capped, 4.0, args.seconds)
    print(f"baseline: 1 worker, no limit: {free_rate:,.0f} calls/s")
    print(f"{args.workers} workers, limit {args.rate:g}/s, {args.seconds:g}s window: {calls} calls = {got:.2f}/s, "
          f"{(got / args.rate - 1) * 100:+.2f} % of R (target within ±2 %); the unlimited baseline is "
          f"{free_rate / args.rate:.0f}x R")


if __name__ == "__main__":
    main()
