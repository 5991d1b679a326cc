"""ASGI middleware: the same capture for teams that keep their own gateway or model server.

    app = ShadowCaptureMiddleware(app, publisher.mirror)

Request and response bodies are copied as they pass (up to a cap), nothing is held back; the
capture runs after the response's last message was sent, so the caller never waits for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from producers.mirror import Mirror
from producers.streaming import StreamCapture

__all__ = ["ShadowCaptureMiddleware", "default_route_filter"]

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Message = dict[str, Any]


def default_route_filter(path: str) -> bool:
    """OpenAI inference routes and `/models/<name>/predict`."""
    return path.endswith(("/chat/completions", "/completions", "/embeddings")) or (
        path.startswith("/models/") and path.endswith("/predict"))


class ShadowCaptureMiddleware:
    def __init__(self, app: Callable[..., Any], mirror: Mirror,
                 route_filter: Callable[[str], bool] = default_route_filter) -> None:
        self.app = app
        self.mirror = mirror
        self.route_filter = route_filter
        self.max_bytes = mirror.config.max_capture_bytes

    async def __call__(self, scope: Scope, receive: Callable[[], Any], send: Callable[[Message], Any]) -> None:
        if scope["type"] != "http" or not self.route_filter(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        wall_start, start = datetime.now(UTC), time.perf_counter()
        request_chunks: list[bytes] = []
        request_size = [0]
        response = StreamCapture(self.max_bytes)
        status = [0]
        response_ctype = [""]
        finished = [False]

        async def tee_receive() -> Message:
            message = await receive()
            if message.get("type") == "http.request":
                chunk = message.get("body", b"")
                request_size[0] += len(chunk)
                if request_size[0] <= self.max_bytes:
                    request_chunks.append(chunk)
            return message

        async def tee_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        response_ctype[0] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                response.feed(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished[0] = True

        try:
            await self.app(scope, tee_receive, tee_send)
        finally:
            if status[0]:
                self._capture(scope, b"".join(request_chunks), request_size[0], response, status[0],
                              response_ctype[0], wall_start, start, finished[0])

    def _capture(self, scope: Scope, request_body: bytes, request_size: int, response: StreamCapture, status: int,
                 content_type: str, wall_start: datetime, start: float, finished: bool) -> None:
        elapsed_s = time.perf_counter() - start
        try:
            if request_size > self.max_bytes:
                return  # too large to mirror faithfully; a cut JSON body would not parse anyway
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            query_string = scope.get("query_string", b"").decode("latin-1")
            query = dict(parse_qsl(query_string, keep_blank_values=True)) or None
            complete = finished and not response.truncated
            ttft = None
            if content_type.startswith("text/event-stream"):
                body, stream_done = response.assemble()
                complete = complete and stream_done
                if response.first_chunk_at is not None:
                    ttft = (response.first_chunk_at - start) * 1000.0
            else:
                body = response.raw()
            self.mirror.capture(request_body, body, route=scope["path"], status_code=status,
                                method=scope.get("method", "POST"), headers=headers, query=query,
                                ts_request=wall_start, latency_ms=elapsed_s * 1000.0, ttft_ms=ttft,
                                complete=complete)
        except Exception:  # noqa: BLE001 - the wrapped app's answer is already out; never fail it
            log.warning("shadow capture failed on %s", scope.get("path"), exc_info=True)
