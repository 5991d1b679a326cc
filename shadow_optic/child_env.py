"""Passing one Settings object to child processes (worker, gateway) through SHADOW_* variables."""

from __future__ import annotations

import json
import os

from pydantic import BaseModel, SecretStr

from schemas.settings import Settings

__all__ = ["settings_env"]


def _plain(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def settings_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) plus every setting as SHADOW_<NAME>."""
    env = dict(os.environ if base is None else base)
    dumped = settings.model_dump(mode="json")
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value is None:
            env.pop(f"SHADOW_{name.upper()}", None)
            continue
        if isinstance(value, SecretStr):
            env[f"SHADOW_{name.upper()}"] = value.get_secret_value()
        elif isinstance(value, (list, dict, BaseModel)):
            # SecretStr inside nested models (challenger api keys) must travel in clear to the child.
            env[f"SHADOW_{name.upper()}"] = json.dumps(_reveal(value))
        else:
            env[f"SHADOW_{name.upper()}"] = str(dumped[name])
    return env


def _reveal(value: object) -> object:
    if isinstance(value, list):
        return [_reveal(v) for v in value]
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if hasattr(value, "model_dump"):
        return {k: _reveal(_plain(getattr(value, k))) for k in type(value).model_fields}
    return _plain(value)
