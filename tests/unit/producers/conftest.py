"""Fixtures for the producers' unit tests: no services; an in-process ASGI upstream and a recording publisher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from producers.publisher import EventPublisher
from schemas.events import InferenceEvent

UNREACHABLE = "127.0.0.1:1"  # nothing listens on port 1: every Kafka call fails, nothing blocks


class RecordingPublisher(EventPublisher):
    """A real EventPublisher (unreachable broker) that also keeps what it was asked to publish."""

    def __init__(self, accept: bool = True) -> None:
        super().__init__(UNREACHABLE, "shadow.requests", 1024 * 1024)
        self._events: list[InferenceEvent] = []
        self.accept = accept
        self.capture_queue = None  # a gateway's CaptureQueue: reading the events waits until it is idle

    @property
    def events(self) -> list[InferenceEvent]:
        if self.capture_queue is not None:
            assert self.capture_queue.wait_idle(10.0), "the capture thread did not finish in 10 s"
        return self._events

    def publish(self, event: InferenceEvent) -> bool:
        # Round-trip through JSON, as the wire does.
        self._events.append(InferenceEvent.model_validate_json(event.model_dump_json()))
        return self.accept


@pytest.fixture
def recording() -> Iterator[RecordingPublisher]:
    publisher = RecordingPublisher()
    yield publisher
    publisher.close(timeout_s=0)


def upstream_app() -> Starlette:
    """A tiny OpenAI-compatible model plus a JSON classifier; it echoes what it received in headers."""
    seen: list[dict] = []

    async def chat(request: Request) -> Response:
        body = await request.json()
        seen.append({"headers": dict(request.headers), "body": body, "query": str(request.url.query)})
        if body.get("model") == "broken":
            return JSONResponse({"error": {"message": "model overloaded", "type": "server_error", "code": "x"}},
                                status_code=503, headers={"retry-after": "7"})
        text = "Hello " + body["messages"][-1]["content"]
        if body.get("stream"):
            async def chunks():
                for word in text.split(" "):
                    delta = {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
                             "model": "up-model", "id": "c1"}
                    yield f"data: {json.dumps(delta)}\n\n".encode()
                    await asyncio.sleep(0)
                end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "model": "up-model",
                       "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
                yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode()
            return StreamingResponse(chunks(), media_type="text/event-stream")
        return JSONResponse({"id": "c1", "object": "chat.completion", "model": "up-model",
                             "system_fingerprint": "fp_1",
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 4}},
                            headers={"x-upstream": "yes"})

    async def completions(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"model": "up-completion", "choices": [{"text": "done: " + str(body.get("prompt")),
                                                                    "finish_reason": "length"}]})

    async def embeddings(request: Request) -> Response:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return JSONResponse({"model": "emb", "data": [{"embedding": [0.1, 0.2], "index": i}
                                                      for i in range(len(inputs))],
                             "usage": {"prompt_tokens": 2, "completion_tokens": 0}})

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "up-model", "object": "model"}]})

    async def classify(request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"label": "approve" if body.get("amount", 0) < 100 else "reject", "score": 0.9})

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models),
        Route("/classify", classify, methods=["POST", "PUT"]),
    ])
    app.state.seen = seen
    return app


@pytest.fixture
def upstream() -> Starlette:
    return upstream_app()


@pytest.fixture
def transport(upstream: Starlette) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=upstream)
