"""One error root for the whole project; each subclass says whether retrying can help."""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ShadowOpticError",
    "ConfigError",
    "InvalidRequestError",
    "NotFoundError",
    "StackError",
    "InvalidEventError",
    "ChallengerError",
    "StoreUnavailableError",
]


class ShadowOpticError(Exception):
    """Root of every error Shadow-Optic raises on purpose.

    `retriable` tells callers whether the same call may succeed later (an outage) or never will
    (bad input, bad configuration).
    """

    retriable: ClassVar[bool] = False


class ConfigError(ShadowOpticError):
    """The configuration is wrong; fix the named setting and start again."""


class InvalidRequestError(ShadowOpticError):
    """What was asked (CLI arguments, API parameters) is malformed or contradictory; ask differently."""


class NotFoundError(ShadowOpticError):
    """What was asked for by name does not exist (a challenger, a champion to roll back to, ...)."""


class StackError(ShadowOpticError):
    """The local stack cannot start: a missing prerequisite, a port in use, a process that died."""


class InvalidEventError(ShadowOpticError):
    """A message cannot be parsed or validated; it goes to the dead-letter topic, never retried."""


class ChallengerError(ShadowOpticError):
    """A challenger call failed in a way that may pass on retry (5xx, 429, network, timeout)."""

    retriable = True


class StoreUnavailableError(ShadowOpticError):
    """ClickHouse did not take the rows; the sink retries until it does."""

    retriable = True
