"""OpenAI-compatible proxy in front of the production model; mirrors each exchange to Kafka.

The user's answer is returned first and unchanged (streams chunk by chunk as they arrive). The
serving loop only hands the exchange to the capture thread (producers.capture_queue.CaptureQueue, a
bounded queue: full means dropped and counted, never a wait); that thread samples, caps, redacts,
builds the event and queues it to Kafka (never blocking, see EventPublisher). Bad input is answered
in OpenAI's error format.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime

import httpx
import redis.asyncio as aioredis
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from infra.redis_clients import redis_options
from producers.capture_queue import CaptureQueue
from producers.champion import ChampionFollower
from producers.metrics import GatewayMetrics
from producers.mirror import CaptureConfig, Mirror
from producers.mirror_cap import RedisCapLeases
from producers.publisher import EventPublisher
from producers.rollout import RolloutChoice, RolloutFollower, ServedStats, serving_of
from producers.streaming import StreamCapture
from producers.upstream import UpstreamClient, UpstreamTable, forward_headers, response_headers
from schemas.redis_keys import namespace
from schemas.settings import Settings

__all__ = ["create_gateway", "openai_error"]

log = logging.getLogger(__name__)

_JSON_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


def openai_error(status: int, message: str, error_type: str = "invalid_request_error",
                 code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": error_type, "param": None, "code": code}},
                        status_code=status)


class _BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def create_gateway(settings: Settings, publisher: EventPublisher,
                   transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The gateway app; `transport` replaces the network to the upstreams (tests only)."""
    gateway = settings.gateway
    upstreams = UpstreamTable(gateway)
    mirror = Mirror(CaptureConfig.from_settings(settings.capture), publisher)
    # Capture runs on its own thread (bounded queue), off the serving loop; 0 keeps it on the loop.
    capture_queue = CaptureQueue(mirror, gateway.gateway_capture_queue) if gateway.gateway_capture_queue else None
    capture = capture_queue.submit if capture_queue is not None else mirror.capture
    metrics = GatewayMetrics(mirror, publisher, capture_queue)
    api_key = gateway.production_api_key.get_secret_value() if gateway.production_api_key else None
    state: dict[str, UpstreamClient] = {}

    follower: list[ChampionFollower] = []  # empty unless following the champion registry
    rollout: list[RolloutFollower] = []  # empty unless following the champion registry (rollouts are part of it)
    served: list[ServedStats] = []
    tag_prefix = settings.capture.gateway_tag_header_prefix.lower()

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with UpstreamClient(gateway, transport) as client, AsyncExitStack() as stack:
            state["client"] = client
            if gateway.gateway_mirror_cap_shared and settings.redis_url:
                import redis

                shared = redis.Redis.from_url(settings.redis_url, socket_timeout=0.2, socket_connect_timeout=0.2,
                                              **redis_options(settings.redis_url, settings.redis_security))
                stack.callback(shared.close)
                mirror.cap.shared = RedisCapLeases(shared, namespace(settings.topic_prefix))
            if capture_queue is not None:
                capture_queue.start()
                stack.callback(capture_queue.close)  # first out: drains while the shared cap's client is open
            if gateway.gateway_follow_champion and settings.redis_url:
                redis = await stack.enter_async_context(aioredis.from_url(
                    settings.redis_url, **redis_options(settings.redis_url, settings.redis_security)))
                follower.append(ChampionFollower(redis, champion_key_prefix=settings.champion_key_prefix,
                                                 app=settings.app_name, topic_prefix=settings.topic_prefix,
                                                 poll_s=gateway.gateway_champion_poll_s))
                task = asyncio.create_task(follower[0].run())
                stack.callback(task.cancel)
                rollout.append(RolloutFollower(settings, redis, mirror.sampling))
                served.append(ServedStats(settings, redis))
                for loop in (rollout[0].run(), served[0].run()):
                    stack.callback(asyncio.create_task(loop).cancel)
            yield

    async def read_json(request: Request) -> tuple[bytes, object]:
        """The body, checked: size (before and while reading), content type, JSON syntax."""
        limit = gateway.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise _BadRequest(openai_error(413, f"request body is {declared} bytes; the limit is {limit} "
                                                "(SHADOW_MAX_BODY_BYTES)", code="request_too_large"))
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            raise _BadRequest(openai_error(415, f"Content-Type {ctype!r} is not supported; send application/json",
                                           code="unsupported_media_type"))
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _BadRequest(openai_error(413, f"request body is over the limit of {limit} bytes "
                                                        "(SHADOW_MAX_BODY_BYTES)", code="request_too_large"))
                chunks.append(chunk)
        except ClientDisconnect:
            raise _BadRequest(Response(status_code=499)) from None
        raw = b"".join(chunks)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _BadRequest(openai_error(400, f"We could not parse the JSON body of your request: {exc}",
                                           code="invalid_json")) from None
        return raw, body

    def count_served(choice: RolloutChoice | None, status: int, elapsed_s: float) -> None:
        if choice is not None:
            served[0].record(choice, status, elapsed_s * 1000.0)

    def upstream_failure(route: str, exc: httpx.HTTPError, url: str) -> Response:
        if isinstance(exc, httpx.TimeoutException):
            metrics.requests.labels(route, "504").inc()
            return openai_error(504, f"the upstream model at {url} did not answer in time "
                                     f"({type(exc).__name__}; SHADOW_UPSTREAM_TIMEOUT_S)", "upstream_timeout")
        metrics.requests.labels(route, "502").inc()
        return openai_error(502, f"the upstream model at {url} is unreachable: {type(exc).__name__}: {exc}",
                            "upstream_error")

    async def proxy(request: Request, route: str, url: str, kind: str | None) -> Response:
        try:
            raw, body = await read_json(request)
        except _BadRequest as bad:
            metrics.requests.labels(route, str(bad.response.status_code)).inc()
            return bad.response
        if kind != "json" and not isinstance(body, dict):
            metrics.requests.labels(route, "400").inc()
            return openai_error(400, "the request body must be a JSON object", code="invalid_json")
        if request.url.query:
            url = f"{url}?{request.url.query}"
        headers = forward_headers(request.headers.items(), api_key)
        champion = follower[0].route if follower and kind in ("chat", "completion") else None
        # A running canary: this request's sampling key picks the candidate or the champion (sticky).
        choice = rollout[0].choose(request.headers, body, champion.name if champion else "production") \
            if rollout and kind in ("chat", "completion") else None
        serving = serving_of(choice, champion.name if champion else "production", body) \
            if kind in ("chat", "completion") else None
        if choice is not None and choice.route is not None:
            champion = choice.route
        if champion is not None:
            # Promoted: this traffic is now the champion's. The event says so (model, tag).
            url = f"{champion.base_url}{route.removeprefix('/v1')}"
            body = {**body, "model": champion.model}
            raw = json.dumps(body).encode()
            if champion.api_key is not None:
                headers["authorization"] = f"Bearer {champion.api_key.get_secret_value()}"
        client = state["client"]
        wall_start, start = datetime.now(UTC), time.perf_counter()
        wants_stream = isinstance(body, dict) and body.get("stream") is True and kind in ("chat", "completion")
        try:
            upstream = await client.send(request.method, url, headers, raw, stream=wants_stream)
        except httpx.HTTPError as exc:
            failure = upstream_failure(route, exc, url)
            count_served(choice, failure.status_code, time.perf_counter() - start)
            return failure
        caller = {k: v for k, v in request.headers.items()}
        query = dict(request.query_params) if request.url.query else None

        # Only a hand-over on the loop: the capture thread does the work (CaptureQueue).
        def mirror_it(response_body: object, status: int, elapsed_s: float, ttft_s: float | None = None,
                      complete: bool = True) -> None:
            metrics.upstream_latency.labels(route).observe(elapsed_s)
            count_served(choice, status, elapsed_s)
            tagged = champion is not None and (choice is None or choice.arm == "champion")
            capture(body, response_body, route=route, status_code=status, method=request.method,
                    headers={**caller, f"{tag_prefix}champion": champion.name} if tagged else caller,
                    query=query, ts_request=wall_start, latency_ms=elapsed_s * 1000.0,
                    ttft_ms=ttft_s * 1000.0 if ttft_s is not None else None, kind=kind,
                    complete=complete, serving=serving)

        metrics.requests.labels(route, str(upstream.status_code)).inc()
        is_sse = upstream.headers.get("content-type", "").startswith("text/event-stream")
        if not wants_stream or upstream.status_code >= 400 or not is_sse:
            if wants_stream:
                try:
                    await upstream.aread()
                except httpx.HTTPError as exc:
                    return upstream_failure(route, exc, url)
                finally:
                    await upstream.aclose()
            elapsed = time.perf_counter() - start
            response = Response(upstream.content, status_code=upstream.status_code,
                                headers=response_headers(upstream.headers))
            if capture_queue is not None:
                mirror_it(upstream.content, upstream.status_code, elapsed)  # a hand-over: no need to wait
            else:
                response.background = BackgroundTask(mirror_it, upstream.content, upstream.status_code, elapsed)
            return response

        stream = StreamCapture(settings.gateway_max_capture_bytes)
        outcome = {"complete": False, "end": start}

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    stream.feed(chunk)
                    yield chunk
                outcome["complete"] = True
            except httpx.HTTPError as exc:  # the status line is gone already: end the stream, say why in the log
                log.warning("upstream stream on %s broke off: %s", route, exc)
            finally:
                outcome["end"] = time.perf_counter()
                await upstream.aclose()

        async def mirror_stream() -> None:
            assembled, finished = stream.assemble()
            ttft = stream.first_chunk_at - start if stream.first_chunk_at is not None else None
            mirror_it(assembled, upstream.status_code, outcome["end"] - start, ttft,
                      complete=bool(outcome["complete"] and finished and not stream.truncated))

        return StreamingResponse(relay(), status_code=upstream.status_code,
                                 headers=response_headers(upstream.headers), background=BackgroundTask(mirror_stream))

    def openai_route(route: str):
        kind = {"/v1/chat/completions": "chat", "/v1/completions": "completion", "/v1/embeddings": "embedding"}[route]

        async def handler(request: Request) -> Response:
            return await proxy(request, route, upstreams.openai_url(route), kind)
        return handler

    async def models(request: Request) -> Response:
        """Passed through, not mirrored: listing models is not inference."""
        suffix = f"/{request.path_params['model_id']}" if "model_id" in request.path_params else ""
        url = upstreams.openai_url("/v1/models", suffix)
        try:
            upstream = await state["client"].send("GET", url, forward_headers(request.headers.items(), api_key))
        except httpx.HTTPError as exc:
            return upstream_failure("/v1/models", exc, url)
        metrics.requests.labels("/v1/models", str(upstream.status_code)).inc()
        return Response(upstream.content, status_code=upstream.status_code,
                        headers=response_headers(upstream.headers))

    async def json_model(request: Request) -> Response:
        name = request.path_params["name"]
        url = upstreams.json_models.get(name)
        if url is None:
            metrics.requests.labels("/models/{name}/predict", "404").inc()
            known = ", ".join(sorted(upstreams.json_models)) or "none"
            return openai_error(404, f"no model named {name!r} is configured (SHADOW_GATEWAY_JSON_MODELS); "
                                     f"known: {known}", code="model_not_found")
        return await proxy(request, f"/models/{name}/predict", url, "json")

    def json_route(route: str, url: str):
        async def handler(request: Request) -> Response:
            return await proxy(request, route, url, "json")
        return handler

    async def healthz(_request: Request) -> Response:
        serving = follower[0].route.name if follower and follower[0].route else "production"
        plan = rollout[0].plan if rollout else None
        canary = None if plan is None or not plan.active else {
            "rollout_id": plan.rollout_id, "candidate": plan.candidate, "step": plan.step_index,
            "share": plan.share(), "version": plan.version, "candidate_routable": rollout[0].candidate is not None}
        return JSONResponse({"status": "ok", "serving": serving, "rollout": canary,
                             "publisher": publisher.counters.snapshot(), "publisher_pending": publisher.pending(),
                             "capture": mirror.counters.snapshot(),
                             "capture_queue": capture_queue.depth() if capture_queue is not None else 0})

    async def metrics_page(_request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type="text/plain; version=0.0.4")

    async def not_found(request: Request, _exc: Exception) -> Response:
        return openai_error(404, f"no route {request.method} {request.url.path} on this gateway", code="not_found")

    async def not_allowed(request: Request, _exc: Exception) -> Response:
        return openai_error(405, f"method {request.method} is not allowed on {request.url.path}",
                            code="method_not_allowed")

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("gateway error on %s", request.url.path, exc_info=exc)
        return openai_error(500, "the gateway failed on this request; see its log", "server_error")

    routes = [Route(r, openai_route(r), methods=["POST"])
              for r in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")]
    routes += [Route("/v1/models", models, methods=["GET"]),
               Route("/v1/models/{model_id:path}", models, methods=["GET"]),
               Route("/models/{name}/predict", json_model, methods=_JSON_METHODS)]
    routes += [Route(path, json_route(path, url), methods=_JSON_METHODS) for path, url in upstreams.json_routes.items()]
    routes += [Route("/healthz", healthz), Route("/metrics", metrics_page)]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: not_found, 405: not_allowed, 500: crashed})
    app.state.mirror = mirror
    app.state.capture_queue = capture_queue
    app.state.metrics = metrics
    return app
