"""Redis key names that more than one stage reads: the contract between their writers and readers."""

from __future__ import annotations

__all__ = ["challenger_registry_key", "champion_key"]


def challenger_registry_key(topic_prefix: str) -> str:
    """Hash name -> ChallengerConfig JSON, written by the challenger registry (stream_agents)."""
    return f"{topic_prefix}shadow:challengers"


def champion_key(champion_key_prefix: str, app: str) -> str:
    """Hash with `champion`, `previous`, `version`, … written by promote/rollback (analytics)."""
    return f"{champion_key_prefix}:{app}"
