"""An httpx transport that sends through aiohttp: the challenger client's API, a cheaper engine.

Measured on the development machine (docs/stream-agents.md, "Measured figures"): httpx's own pool
(httpcore 1.0) rescans every connection and every waiting request on each state change, so its CPU per
call grows with concurrency: ≈ 1.4 ms per call with 4 in flight, 5.2 ms with 32, 8 ms with 500 calls
queued on 128 connections, which capped the worker *and* the hand-written loop at 100–300 calls/s
against a local model before anything else mattered; through aiohttp ≈ 0.65 ms at any concurrency. aiohttp's connector does not have that cost. Keeping httpx as the
client API leaves ChallengerClient, its retries and its tests (httpx.MockTransport) unchanged.

Timeouts and network failures are raised as the httpx exceptions callers already handle
(`httpx.TimeoutException`, `httpx.ConnectError`, `httpx.ReadError`).
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx

__all__ = ["AiohttpTransport"]


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(self, max_connections: int = 100, keepalive_s: float = 30.0) -> None:
        self._max_connections = max_connections
        self._keepalive_s = keepalive_s
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:  # made inside the running loop, on first use
            connector = aiohttp.TCPConnector(limit=self._max_connections, keepalive_timeout=self._keepalive_s,
                                             ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                                  skip_auto_headers=("User-Agent",))
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limits = request.extensions.get("timeout") or {}
        # The challenger's timeout bounds the whole call, not only each read (a slow drip must time out too).
        timeout = aiohttp.ClientTimeout(total=limits.get("read"), connect=limits.get("connect"),
                                        sock_read=limits.get("read"), sock_connect=limits.get("connect"))
        body = await request.aread()
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in ("host", "content-length")]
        try:
            async with self._client().request(request.method, str(request.url), data=body or None,
                                              headers=headers, timeout=timeout, allow_redirects=False) as answer:
                content = await answer.read()
                return httpx.Response(answer.status, headers=[(k, v) for k, v in answer.headers.items()
                                                              if k.lower() not in ("content-encoding",
                                                                                   "transfer-encoding")],
                                      content=content, request=request)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise httpx.ReadTimeout(f"no answer from {request.url.host}: {exc!r}", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(f"cannot connect to {request.url.host}: {exc}", request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{type(exc).__name__} from {request.url.host}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
