"""An httpx transport that sends through aiohttp: httpx's API, a cheaper engine.

Used by the worker for challenger calls and by the gateway for the production upstream. httpx's own
pool (httpcore 1.0 over anyio) rescans every connection and every waiting request on each state
change, so its CPU per call grows with concurrency: measured ≈ 1.4 ms per call with 4 in flight,
5.2 ms with 32 and 8 ms with 500 queued on 128 connections (docs/stream-agents.md); in the gateway
it was two thirds of the proxy's CPU (docs/gateway.md). aiohttp's connector does not have that cost.
Keeping httpx as the API leaves the callers, their retries and their tests (httpx.MockTransport)
unchanged.

Bodies are streamed: a response is handed back once its headers arrive and its bytes are read as
the caller iterates (the gateway passes SSE chunks through as they come); `httpx` reads it whole
when the caller did not ask to stream. Timeouts and network failures, also while the body is read,
are raised as the httpx exceptions callers already handle (`httpx.TimeoutException`,
`httpx.ConnectError`, `httpx.ReadError`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx

__all__ = ["AiohttpTransport"]


def _as_httpx_error(exc: BaseException, request: httpx.Request) -> httpx.HTTPError:
    host = request.url.host
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return httpx.ReadTimeout(f"no answer from {host}: {exc!r}", request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(f"cannot connect to {host}: {exc}", request=request)
    return httpx.ReadError(f"{type(exc).__name__} from {host}: {exc}", request=request)


class _Body(httpx.AsyncByteStream):
    """The response bytes as aiohttp receives them; closing returns the connection to the pool."""

    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._answer, self._request = answer, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_any():
                yield chunk
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _as_httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        self._answer.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int = 100, keepalive_s: float = 30.0, whole_call_timeout: bool = True,
                 decompress: bool = True) -> None:
        """`whole_call_timeout`: the read timeout bounds the whole call (a slow drip must time out too; the
        worker); else it bounds each read (a long stream may run on while it keeps sending; the gateway).
        `decompress=False` passes compressed bodies through as they are (with their content-encoding)."""
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._whole_call_timeout = whole_call_timeout
        self._decompress = decompress
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:  # made inside the running loop, on first use
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_s,
                                             ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=self._decompress,
                                                  skip_auto_headers=("User-Agent", "Accept-Encoding"))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = request.extensions.get("timeout") or {}
        timeout = aiohttp.ClientTimeout(total=limits.get("read") if self._whole_call_timeout else None,
                                        connect=limits.get("connect"), sock_read=limits.get("read"),
                                        sock_connect=limits.get("connect"))
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in ("host", "content-length")]
        try:
            answer = await self._client().request(request.method, str(request.url), data=body or None,
                                                  headers=headers, timeout=timeout, allow_redirects=False)
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            raise _as_httpx_error(exc, request) from exc
        dropped = ("transfer-encoding", "content-encoding") if self._decompress else ("transfer-encoding",)
        return httpx.Response(answer.status, headers=[(k, v) for k, v in answer.headers.items()
                                                      if k.lower() not in dropped],
                              stream=_Body(answer, request), request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
