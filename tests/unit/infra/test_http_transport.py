"""The aiohttp-backed httpx transport: answers, headers, bodies, and httpx's exceptions on failure."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiohttp import web

from infra.http_transport import AiohttpTransport
from schemas.events import ShadowStatus
from schemas.settings import ChallengerConfig
from shadow_optic.stack.processes import free_port
from stream_agents.challenger_client import ChallengerClient
from tests.integration.stream_agents.helpers import make_event


async def _serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def test_a_post_carries_body_and_headers_and_the_answer_comes_back_whole() -> None:
    seen: list[tuple] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.copy(), await request.json()))
        return web.json_response({"echo": "ok"}, status=429, headers={"Retry-After": "2"})

    async def run() -> httpx.Response:
        runner, base = await _serve(handler)
        try:
            async with httpx.AsyncClient(transport=AiohttpTransport(4)) as http:
                return await http.post(f"{base}/v1/x", json={"a": 1}, headers={"X-Shadow-Traffic": "1"}, timeout=5)
        finally:
            await runner.cleanup()

    response = asyncio.run(run())
    assert response.status_code == 429 and response.headers["retry-after"] == "2"
    assert response.json() == {"echo": "ok"}
    method, path, headers, body = seen[0]
    assert (method, path, body) == ("POST", "/v1/x", {"a": 1})
    assert headers["X-Shadow-Traffic"] == "1"


def test_failures_surface_as_httpx_exceptions_so_the_challenger_client_handles_them() -> None:
    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def run() -> tuple:
        runner, base = await _serve(slow)
        try:
            async with httpx.AsyncClient(transport=AiohttpTransport(4)) as http:
                with pytest.raises(httpx.TimeoutException):
                    await http.get(f"{base}/", timeout=0.2)
                with pytest.raises(httpx.ConnectError):
                    await http.get(f"http://127.0.0.1:{free_port()}/", timeout=2)
                timed_out = await ChallengerClient(ChallengerConfig(name="c", base_url=f"{base}/v1", model="m",
                                                                    timeout_s=0.2), http).call(make_event("e1", "a"))
                refused = await ChallengerClient(ChallengerConfig(name="c", base_url=f"http://127.0.0.1:{free_port()}"
                                                                  "/v1", model="m"), http,
                                                 max_attempts=1).call(make_event("e2", "a"))
                return timed_out, refused
        finally:
            await runner.cleanup()

    timed_out, refused = asyncio.run(run())
    assert timed_out.result.status is ShadowStatus.TIMEOUT and timed_out.provider_fault
    assert refused.result.status is ShadowStatus.ERROR and "ConnectError" in refused.result.error


def test_a_streamed_body_arrives_chunk_by_chunk_and_a_broken_one_raises_read_error() -> None:
    release = asyncio.Event()

    async def sse(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await release.wait()  # the second chunk only once the client has seen the first
        await response.write(b"data: second\n\n")
        if request.path == "/broken":
            request.transport.close()  # the upstream dies mid-stream
            return response
        await response.write_eof()
        return response

    async def run() -> tuple[list[bytes], type]:
        runner, base = await _serve(sse)
        try:
            async with httpx.AsyncClient(transport=AiohttpTransport(4, whole_call_timeout=False)) as http:
                chunks = []
                async with http.stream("GET", f"{base}/ok", timeout=5) as response:
                    async for chunk in response.aiter_raw():
                        chunks.append(chunk)
                        release.set()
                release.clear()
                failure: type = type(None)
                try:
                    async with http.stream("GET", f"{base}/broken", timeout=5) as response:
                        async for _chunk in response.aiter_raw():
                            release.set()
                except httpx.HTTPError as exc:
                    failure = type(exc)
                return chunks, failure
        finally:
            await runner.cleanup()

    chunks, failure = asyncio.run(run())
    assert b"".join(chunks) == b"data: first\n\ndata: second\n\n" and chunks[0] == b"data: first\n\n"
    assert issubclass(failure, httpx.ReadError)
