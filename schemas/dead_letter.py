"""What goes to shadow.dlq: the original bytes, why they failed, and where they came from."""

from __future__ import annotations

import base64
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DeadLetter"]


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: int = 1
    stage: str = Field(description="replay, scoring or sink")
    reason: str
    topic: str
    partition: int
    offset: int
    key_b64: str | None = None
    value_b64: str
    ts: datetime

    @staticmethod
    def encode(raw: bytes | None) -> str:
        return base64.b64encode(raw or b"").decode()

    def original_value(self) -> bytes:
        return base64.b64decode(self.value_b64)
