"""Server-sent events seen on their way to the caller, assembled into one response once they end.

Relaying must cost nothing per chunk: `feed` only keeps the bytes (up to a cap) and the time of the
first one; parsing happens once, after the stream, off the user's path.
"""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = ["StreamCapture"]


class StreamCapture:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: list[bytes] = []
        self._size = 0
        self.truncated = False
        self.first_chunk_at: float | None = None  # time.perf_counter()

    def feed(self, chunk: bytes) -> None:
        if self.first_chunk_at is None and chunk:
            self.first_chunk_at = time.perf_counter()
        if self._size + len(chunk) > self.max_bytes:
            self.truncated = True
            return
        self._chunks.append(chunk)
        self._size += len(chunk)

    def raw(self) -> bytes:
        return b"".join(self._chunks)

    def assemble(self) -> tuple[dict[str, Any] | None, bool]:
        """(a non-streaming-shaped response body, whether `[DONE]` or a finish reason was seen)."""
        texts: dict[int, list[str]] = {}
        finish: dict[int, str] = {}
        body: dict[str, Any] = {}
        done = False
        for line in self.raw().split(b"\n"):
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            try:
                chunk = json.loads(payload)
            except ValueError:
                continue
            if not isinstance(chunk, dict):
                continue
            for key in ("id", "model", "system_fingerprint", "object"):
                if chunk.get(key) is not None:
                    body[key] = chunk[key]
            if isinstance(chunk.get("usage"), dict):
                body["usage"] = chunk["usage"]
            for choice in chunk.get("choices") or []:
                if not isinstance(choice, dict):
                    continue
                index = int(choice.get("index") or 0)
                delta = choice.get("delta")
                piece = delta.get("content") if isinstance(delta, dict) else choice.get("text")
                if isinstance(piece, str):
                    texts.setdefault(index, []).append(piece)
                if choice.get("finish_reason"):
                    finish[index] = str(choice["finish_reason"])
        if not body and not texts:
            return None, done
        text = "".join(texts.get(0, []))
        body["choices"] = [{"index": 0, "message": {"role": "assistant", "content": text}, "text": text,
                            "finish_reason": finish.get(0)}]
        return body, done or bool(finish)
