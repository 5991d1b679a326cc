"""A follower's loop: read shared state now and then, and keep the last known state when the read fails."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

__all__ = ["poll_forever"]


async def poll_forever(refresh: Callable[[], Awaitable[object]], interval_s: float, what: str,
                       logger: logging.Logger) -> None:
    """`await refresh()` every `interval_s` until cancelled; a failure (Redis down, a bad document) is a warning
    and the follower keeps serving what it last read: a gateway must not stop serving over its control plane."""
    while True:
        try:
            await refresh()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("cannot read %s (keeping the last known one): %r", what, exc)
        await asyncio.sleep(interval_s)
