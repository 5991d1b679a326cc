"""Bytes from a topic to a validated model, or an InvalidEventError that says what was wrong."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from schemas.errors import InvalidEventError

__all__ = ["decode"]

M = TypeVar("M", bound=BaseModel)


def decode(raw: bytes | None, model: type[M], max_bytes: int) -> M:
    if raw is None:
        raise InvalidEventError(f"empty message: a {model.__name__} was expected")
    if len(raw) > max_bytes:
        raise InvalidEventError(f"message is {len(raw)} bytes, over the {max_bytes}-byte limit "
                                "(SHADOW_MAX_EVENT_BYTES)")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise InvalidEventError(f"not a valid {model.__name__}: {problems}") from None
