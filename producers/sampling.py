"""Deterministic, sticky sampling: the same key gets the same answer in every process, every run."""

from __future__ import annotations

import hashlib

__all__ = ["sample_point", "is_sampled"]


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
