"""Readiness of one worker, from facts the agents report: served on the worker's web port."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["Readiness"]


@dataclass
class Readiness:
    """Ready = every agent is running, Redis answered recently, the registry is loaded, the sink flows."""

    redis_stale_s: float = 10.0
    sink_stall_s: float = 30.0
    agents_started: set[str] = field(default_factory=set)
    last_redis_ok: float = 0.0
    registry_version: int = -1
    challengers: int = 0
    sink_stalled_since: float | None = None
    expected_agents: tuple[str, ...] = ("replay", "scoring", "sink")

    def report(self, now: float | None = None) -> tuple[bool, dict]:
        now = time.monotonic() if now is None else now
        problems = [f"agent {name} not running" for name in self.expected_agents if name not in self.agents_started]
        if now - self.last_redis_ok > self.redis_stale_s:
            problems.append(f"no Redis answer for {now - self.last_redis_ok:.0f}s (replay fails closed)")
        if self.registry_version < 0:
            problems.append("challenger registry not loaded yet")
        if self.sink_stalled_since is not None and now - self.sink_stalled_since > self.sink_stall_s:
            problems.append(f"ClickHouse inserts failing for {now - self.sink_stalled_since:.0f}s")
        return not problems, {"ready": not problems, "problems": problems, "challengers": self.challengers,
                              "registry_version": self.registry_version}
