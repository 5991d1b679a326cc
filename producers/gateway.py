"""OpenAI-compatible proxy in front of the production model; mirrors each exchange to Kafka.

The user's answer is returned first and unchanged; the event is built and queued afterwards
(Starlette background task), and queueing never blocks (see EventPublisher).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from producers.capture import capture_chat
from producers.publisher import EventPublisher
from producers.sampling import is_sampled
from schemas.settings import Settings

__all__ = ["create_gateway", "openai_error"]

log = logging.getLogger(__name__)

# Hop-by-hop or recomputed headers that must not be copied between the two connections.
_SKIPPED_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}


def openai_error(status: int, message: str, error_type: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": error_type, "param": None, "code": None}},
                        status_code=status)


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shadow_gateway_requests", "Requests proxied", ["route", "status"],
                                registry=self.registry)
        self.published = Counter("shadow_gateway_published", "Events queued for Kafka", registry=self.registry)
        self.sampled_out = Counter("shadow_gateway_sampled_out", "Events not mirrored by sampling",
                                   registry=self.registry)
        self.dropped = Counter("shadow_gateway_dropped", "Events dropped: publisher buffer full",
                               registry=self.registry)
        self.upstream_latency = Histogram("shadow_gateway_upstream_seconds", "Production model latency",
                                          ["route"], registry=self.registry)


def create_gateway(settings: Settings, publisher: EventPublisher) -> Starlette:
    metrics = _Metrics()
    state: dict[str, httpx.AsyncClient] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=128)
        async with httpx.AsyncClient(timeout=settings.upstream_timeout_s, limits=limits) as client:
            state["client"] = client
            yield

    def mirror(route: str, request_body: dict, response_body: dict | None, status: int,
               ts_request: datetime, ts_response: datetime, headers: dict[str, str]) -> None:
        sample_key = headers.get("x-shadow-sample-key") or str(request_body.get("user") or "")
        event = capture_chat(
            request_body=request_body, response_body=response_body, status_code=status,
            ts_request=ts_request, ts_response=ts_response, route=route, app=settings.app_name,
            model_rev=settings.production_model_rev, tenant=headers.get("x-shadow-tenant"),
            extra_not_replayable_reason=("caller marked it with X-Shadow-No-Replay"
                                         if headers.get("x-shadow-no-replay") else None),
        )
        if not is_sampled(sample_key or event.event_id, settings.sample_ratio, salt=route):
            metrics.sampled_out.inc()
            return
        if publisher.publish(event):
            metrics.published.inc()
        else:
            metrics.dropped.inc()

    async def chat_completions(request: Request) -> Response:
        route = "/v1/chat/completions"
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            return openai_error(413, f"request body is {len(raw)} bytes; the limit is {settings.max_body_bytes} "
                                     "(SHADOW_MAX_BODY_BYTES)")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return openai_error(400, f"request body is not valid JSON: {exc}")
        if not isinstance(body, dict):
            return openai_error(400, "request body must be a JSON object")
        headers = {"content-type": "application/json"}
        auth = request.headers.get("authorization")
        if auth:
            headers["authorization"] = auth
        elif settings.production_api_key is not None:
            headers["authorization"] = f"Bearer {settings.production_api_key.get_secret_value()}"
        ts_request = datetime.now(UTC)
        try:
            upstream = await state["client"].post(f"{settings.production_url.rstrip('/')}/chat/completions",
                                                  content=raw, headers=headers)
        except httpx.TimeoutException:
            metrics.requests.labels(route, "504").inc()
            return openai_error(504, "the production model did not answer in time", "upstream_timeout")
        except httpx.HTTPError as exc:
            metrics.requests.labels(route, "502").inc()
            return openai_error(502, f"the production model is unreachable: {exc}", "upstream_error")
        ts_response = datetime.now(UTC)
        metrics.upstream_latency.labels(route).observe((ts_response - ts_request).total_seconds())
        metrics.requests.labels(route, str(upstream.status_code)).inc()
        try:
            response_body = upstream.json()
        except ValueError:
            response_body = None
        caller_headers = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("x-shadow-")}
        task = BackgroundTask(mirror, route, body, response_body, upstream.status_code, ts_request, ts_response,
                              caller_headers)
        passed = {k: v for k, v in upstream.headers.items() if k.lower() not in _SKIPPED_RESPONSE_HEADERS}
        return Response(upstream.content, status_code=upstream.status_code, headers=passed, background=task)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "publisher": publisher.counters.snapshot(),
                             "publisher_pending": publisher.pending()})

    async def metrics_page(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/metrics", metrics_page),
        ],
        lifespan=lifespan,
    )
