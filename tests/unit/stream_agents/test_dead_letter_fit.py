"""A dead letter always fits the DLQ topic, as the producer counts it; the original whole when it can."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from schemas.dead_letter import DeadLetter
from stream_agents.dead_letters import BoundedDeadLetter, fit_dead_letter

LIMIT = 1_000_000  # faust's producer_max_request_size default


def _fit(value: bytes, key: bytes | None = b"event-1", reason: str = "not a valid InferenceEvent", limit=LIMIT):
    return fit_dead_letter(stage="replay", reason=reason, topic="shadow.requests", partition=2, offset=17,
                           key=key, value=value, max_bytes=limit)


def _size(key: bytes | None, value: bytes) -> int:
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, [])


def test_a_small_message_travels_whole():
    value = b'{"hello": "world"}'
    key, out = _fit(value)
    letter = BoundedDeadLetter.model_validate_json(out)
    assert key == b"event-1" and not letter.truncated
    assert letter.original_value() == value and letter.value_bytes == len(value)
    assert letter.value_sha256 == hashlib.sha256(value).hexdigest()


@pytest.mark.parametrize("size", [760_000, 999_000, 1_048_576, 5_000_000])
def test_a_large_message_is_cut_to_a_prefix_that_fits_with_size_sha_and_origin(size):
    value = json.dumps({"padding": "x" * size}).encode()  # valid JSON, not an event: the reported case
    key, out = _fit(value)
    assert _size(key, out) <= LIMIT
    letter = BoundedDeadLetter.model_validate_json(out)
    assert letter.truncated and letter.value_bytes == len(value)
    assert letter.value_sha256 == hashlib.sha256(value).hexdigest()
    assert (letter.topic, letter.partition, letter.offset) == ("shadow.requests", 2, 17)
    prefix = letter.original_value()
    assert value.startswith(prefix) and len(prefix) > LIMIT * 0.7  # the room is used, not wasted
    assert "truncated" in letter.reason and "shadow.requests[2]@17" in letter.reason
    assert DeadLetter.model_validate_json(out).stage == "replay"  # v1 readers still read it


def test_the_fit_counts_the_base64_and_the_envelope():
    # Just under the limit raw, over it once base64-encoded: the case that crashed the replay agent.
    value = b"y" * (LIMIT - 1000)
    assert len(base64.b64encode(value)) > LIMIT
    key, out = _fit(value)
    assert _size(key, out) <= LIMIT and BoundedDeadLetter.model_validate_json(out).truncated


def test_huge_keys_and_reasons_cannot_push_a_letter_over_the_limit():
    key, out = _fit(b"z" * 3000, key=b"k" * 50_000, reason="r" * 100_000, limit=4096)
    assert _size(key, out) <= 4096
    letter = BoundedDeadLetter.model_validate_json(out)
    assert key is None and letter.key_b64 is None and letter.truncated


def test_the_smallest_limit_still_carries_the_origin():
    key, out = _fit(b"q" * 10_000, limit=1024)
    assert _size(key, out) <= 1024
    letter = BoundedDeadLetter.model_validate_json(out)
    assert letter.offset == 17 and letter.value_bytes == 10_000
