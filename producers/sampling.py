"""Deterministic, sticky sampling: the same key gets the same answer in every process, every run.

The decision is a hash of (route, key) compared with the route's ratio, so a user (or tenant) is
either always mirrored on a route or never, and raising the ratio only adds keys (a key sampled at
10 % stays sampled at 20 %).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from schemas.errors import ConfigError

__all__ = ["sample_point", "is_sampled", "SamplingPolicy"]


def sample_point(key: str, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by (salt, key)."""
    digest = hashlib.blake2b(f"{salt}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def is_sampled(key: str, ratio: float, salt: str = "") -> bool:
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    return sample_point(key, salt) < ratio


class SamplingPolicy:
    """Per-route ratios and an ordered list of key sources; the first source present is the key.

    Sources: `header:<name>`, `body:<field>` (top-level field of the JSON request), `tenant`,
    `request_id` (the event id: no stickiness, each request decided on its own).
    """

    def __init__(self, default_ratio: float, route_ratios: Mapping[str, float] | None = None,
                 key_sources: list[str] | None = None) -> None:
        self.default_ratio = default_ratio
        self.route_ratios = dict(route_ratios or {})
        for route, ratio in self.route_ratios.items():
            if not 0.0 <= ratio <= 1.0:
                raise ConfigError(f"SHADOW_GATEWAY_SAMPLE_RATIOS[{route!r}] = {ratio}: a ratio is between 0 and 1")
        self.key_sources = list(key_sources or ["request_id"])
        for source in self.key_sources:
            kind, _, name = source.partition(":")
            if kind not in ("header", "body", "tenant", "request_id") or (kind in ("header", "body") and not name):
                raise ConfigError(f"SHADOW_GATEWAY_SAMPLE_KEYS has {source!r}; use header:<name>, body:<field>, "
                                  "tenant or request_id")

    def ratio(self, route: str) -> float:
        return self.route_ratios.get(route, self.default_ratio)

    def key(self, headers: Mapping[str, str], body: Any, tenant: str | None, request_id: str) -> str:
        for source in self.key_sources:
            kind, _, name = source.partition(":")
            if kind == "header":
                value = headers.get(name.lower())
            elif kind == "body":
                value = body.get(name) if isinstance(body, dict) else None
            elif kind == "tenant":
                value = tenant
            else:
                value = request_id
            if value not in (None, ""):
                return f"{kind}:{value}"
        return f"request_id:{request_id}"

    def decide(self, route: str, key: str) -> bool:
        return is_sampled(key, self.ratio(route), salt=route)
