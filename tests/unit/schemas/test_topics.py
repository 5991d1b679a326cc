"""Kafka topic helpers that need no broker."""

from __future__ import annotations


def test_scored_inline_header_is_found_in_either_header_shape():
    from schemas.topics import SCORED_INLINE_HEADER, was_scored_inline

    assert was_scored_inline([(SCORED_INLINE_HEADER, b"1")])  # aiokafka: (str, bytes) pairs
    assert was_scored_inline({SCORED_INLINE_HEADER.encode(): b"1"})
    assert not was_scored_inline([("x-other", b"1")])
    assert not was_scored_inline(None) and not was_scored_inline([])
