"""A hard cap on mirrored events per second, per route (the mirroring playbook's "hard cap on mirror QPS"),
optionally shared by all gateways through Redis leases."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from typing import Any, Callable, Protocol

from schemas.errors import ConfigError
from schemas.redis_keys import mirror_cap_key

__all__ = ["MirrorCap", "RedisCapLeases", "SharedCapLeases"]

log = logging.getLogger("producers.mirror")


class SharedCapLeases(Protocol):
    def lease(self, route: str, second: int, cap: int, want: int) -> int: ...


class _CapWindow:
    __slots__ = ("second", "used", "leased", "spent")

    def __init__(self, second: int) -> None:
        self.second, self.used, self.leased, self.spent = second, 0, 0, False


class MirrorCap:
    """A hard cap on events per second, per route: over it, events are dropped (counted), never delayed.

    Fixed one-second windows, so no route publishes more than its cap in any calendar second. With
    `shared` (Redis, see RedisCapLeases) all gateways draw from one window per route and second: each
    takes leases of `ceil(cap / 20)` events at a time, one Redis round trip per lease, so the cap holds
    across gateways (a few leased, unused events at a second's end are forfeited, never exceeded).
    If the shared store fails, the gateway caps on its own (the whole cap, locally) for the next 5 s
    and tries again (failures counted in `shared_errors`): there is always a cap, for a while not a
    global one.
    """

    LOCAL_AFTER_ERROR_S = 5.0

    def __init__(self, default_per_s: float | None, route_per_s: Mapping[str, float] | None = None,
                 shared: SharedCapLeases | None = None, clock: Callable[[], float] = time.time) -> None:
        self.default_per_s = default_per_s
        self.route_per_s = dict(route_per_s or {})
        for route, cap in self.route_per_s.items():
            if cap <= 0:
                raise ConfigError(f"SHADOW_GATEWAY_MIRROR_MAX_PER_S_ROUTES[{route!r}] = {cap}: a cap is above 0 "
                                  "(leave the route out to leave it uncapped)")
        self.shared = shared
        self.shared_errors = 0
        self._local_until = 0.0
        self._clock = clock
        self._windows: dict[str, _CapWindow] = {}
        self._lock = threading.Lock()  # capture() may run on several threads (library users)

    def limit(self, route: str) -> float | None:
        return self.route_per_s.get(route, self.default_per_s)

    def admit(self, route: str) -> bool:
        per_s = self.limit(route)
        if per_s is None:
            return True
        cap = max(1, int(per_s))
        now = self._clock()
        second = int(now)
        with self._lock:
            window = self._windows.get(route)
            if window is None or window.second != second:
                window = self._windows[route] = _CapWindow(second)
            if self.shared is None or now < self._local_until:
                if window.used >= cap:
                    return False
                window.used += 1
                return True
            if window.leased > 0:
                window.leased -= 1
                return True
            if window.spent:
                return False
        try:  # outside the lock: the round trip must not hold other threads' admissions
            got = self.shared.lease(route, second, cap, max(1, math.ceil(cap / 20)))
        except Exception as exc:  # noqa: BLE001 - shared store down: cap this gateway alone for a while
            self.shared_errors += 1
            self._local_until = now + self.LOCAL_AFTER_ERROR_S
            if self.shared_errors & (self.shared_errors - 1) == 0:
                log.warning("shared mirror cap unavailable (%d so far); capping this gateway alone for %.0f s: %r",
                            self.shared_errors, self.LOCAL_AFTER_ERROR_S, exc)
            return self.admit(route)
        with self._lock:
            if got <= 0:
                window.spent = True
                return False
            window.leased += got - 1
            return True


class RedisCapLeases:
    """Leases of a per-route, per-second event budget shared by all gateways (a sync Redis client)."""

    def __init__(self, client: Any, ns: str) -> None:
        self._redis = client
        self._ns = ns  # schemas.redis_keys.namespace(topic_prefix)

    def lease(self, route: str, second: int, cap: int, want: int) -> int:
        key = mirror_cap_key(self._ns, route, second)
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(key, want)
            pipe.expire(key, 5)
            total, _ = pipe.execute()
        before = int(total) - want
        return max(0, min(want, cap - before))
