import pytest

from producers.sampling import SamplingPolicy, is_sampled, sample_point
from schemas.errors import ConfigError


def test_decision_is_stable_and_sticky() -> None:
    assert sample_point("user-1", "r") == sample_point("user-1", "r")
    assert sample_point("user-1", "r") != sample_point("user-1", "other-route")
    # Raising the ratio only adds keys.
    low = {k for k in range(2000) if is_sampled(str(k), 0.1)}
    high = {k for k in range(2000) if is_sampled(str(k), 0.3)}
    assert low <= high and len(high) > len(low)


@pytest.mark.parametrize("ratio", [0.01, 0.1, 0.25, 0.5, 0.9])
def test_observed_ratio_is_close_to_configured(ratio: float) -> None:
    n = 20_000
    hits = sum(is_sampled(f"user-{i}", ratio, salt="/v1/chat/completions") for i in range(n))
    assert abs(hits / n - ratio) < 0.01


def test_key_sources_in_order_and_per_route_ratio() -> None:
    policy = SamplingPolicy(0.5, {"/v1/embeddings": 0.0}, ["header:x-user", "body:user", "tenant", "request_id"])
    assert policy.key({"x-user": "u1"}, {"user": "b"}, "t", "rid") == "header:u1"
    assert policy.key({}, {"user": "b"}, "t", "rid") == "body:b"
    assert policy.key({}, {"user": ""}, "t", "rid") == "tenant:t"
    assert policy.key({}, [1, 2], None, "rid") == "request_id:rid"
    assert not any(policy.decide("/v1/embeddings", f"k{i}") for i in range(100))
    assert policy.ratio("/v1/chat/completions") == 0.5


def test_bad_sampling_config() -> None:
    with pytest.raises(ConfigError):
        SamplingPolicy(1.0, {"/x": 1.5})
    with pytest.raises(ConfigError):
        SamplingPolicy(1.0, {}, ["cookie:abc"])
