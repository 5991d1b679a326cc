"""The shared mirror cap on a real Redis: several gateways' caps together admit exactly the cap per second."""

from __future__ import annotations

import uuid

import pytest
import redis

from producers.mirror_cap import MirrorCap, RedisCapLeases

pytestmark = pytest.mark.integration


def test_gateways_sharing_redis_publish_at_most_the_cap(stack_settings) -> None:
    client = redis.Redis.from_url(stack_settings.redis_url)
    second = [5000.0]
    caps = [MirrorCap(50, shared=RedisCapLeases(client, f"t{uuid.uuid4().hex[:8]}.shadow"), clock=lambda: second[0])
            for _ in range(3)]
    # the three share one prefix, as gateways of one deployment do
    caps[1].shared = caps[2].shared = caps[0].shared
    try:
        assert sum(cap.admit("/v1/chat/completions") for _ in range(40) for cap in caps) == 50
        assert sum(cap.admit("/v1/embeddings") for _ in range(10) for cap in caps) == 30  # another route
        second[0] += 1
        assert sum(cap.admit("/v1/chat/completions") for _ in range(40) for cap in caps) == 50
    finally:
        client.close()
