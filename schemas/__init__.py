"""Contracts shared by every stage: events, settings, topics, Redis key names, errors, ClickHouse DDL."""

from schemas.dead_letter import DeadLetter
from schemas.errors import (
    ChallengerError,
    ConfigError,
    InvalidEventError,
    ShadowOpticError,
    StackError,
    StoreUnavailableError,
)
from schemas.events import (
    SCHEMA_VERSION,
    CapturedResponse,
    ChatMessage,
    InferenceEvent,
    NormalizedRequest,
    ScoredRecord,
    ShadowResult,
    ShadowStatus,
    Usage,
)
from schemas.redis_keys import champion_key, namespace, registry_hash_key
from schemas.settings import ChallengerConfig, ModelPrice, Settings
from schemas.topics import Topics

__all__ = [
    "SCHEMA_VERSION",
    "CapturedResponse",
    "ChallengerConfig",
    "ChallengerError",
    "ChatMessage",
    "ConfigError",
    "DeadLetter",
    "InferenceEvent",
    "InvalidEventError",
    "ModelPrice",
    "NormalizedRequest",
    "ScoredRecord",
    "Settings",
    "ShadowOpticError",
    "ShadowResult",
    "ShadowStatus",
    "StackError",
    "StoreUnavailableError",
    "Topics",
    "Usage",
    "champion_key",
    "namespace",
    "registry_hash_key",
]
