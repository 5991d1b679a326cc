"""Where each gateway route goes, and what of the caller's request is forwarded there."""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from infra.http_transport import AiohttpTransport
from schemas.errors import ConfigError
from schemas.settings import GatewaySettings

__all__ = ["OPENAI_ROUTES", "UpstreamTable", "forward_headers", "response_headers", "UpstreamClient"]

OPENAI_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models")

# Hop-by-hop, or recomputed by the next hop: never copied from one connection to the other.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                         "transfer-encoding", "upgrade", "host", "content-length", "accept-encoding"})
_SKIPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive",
                                       "content-encoding"})


def _check_url(url: str, setting: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{setting} has {url!r}: an upstream is an http:// or https:// URL")
    return url.rstrip("/")


class UpstreamTable:
    """OpenAI routes → base URL (production_url unless overridden); JSON routes → full URL."""

    def __init__(self, gateway: GatewaySettings) -> None:
        self.default_base = _check_url(gateway.production_url, "SHADOW_PRODUCTION_URL")
        self.bases = {route: _check_url(url, f"SHADOW_GATEWAY_UPSTREAMS[{route!r}]")
                      for route, url in gateway.gateway_upstreams.items()}
        self.json_models = {name: _check_url(url, f"SHADOW_GATEWAY_JSON_MODELS[{name!r}]")
                            for name, url in gateway.gateway_json_models.items()}
        self.json_routes = {route: _check_url(url, f"SHADOW_GATEWAY_JSON_ROUTES[{route!r}]")
                            for route, url in gateway.gateway_json_routes.items()}
        for route in self.json_routes:
            if not route.startswith("/") or route in OPENAI_ROUTES:
                raise ConfigError(f"SHADOW_GATEWAY_JSON_ROUTES has {route!r}: a path starting with / that is not "
                                  "one of the OpenAI routes")
        self.api_key = gateway.production_api_key

    def openai_url(self, route: str, suffix: str = "") -> str:
        """`/v1/chat/completions` → `<base>/chat/completions` (the base already ends in /v1)."""
        base = self.bases.get(route, self.default_base)
        return f"{base}{route.removeprefix('/v1')}{suffix}"


def forward_headers(headers: Iterable[tuple[str, str]], api_key: str | None) -> dict[str, str]:
    """The caller's headers minus hop-by-hop and our own x-shadow-*; the configured key if none was sent."""
    out = {k: v for k, v in headers if k not in _HOP_BY_HOP and not k.startswith("x-shadow-")}
    if api_key and "authorization" not in out:
        out["authorization"] = f"Bearer {api_key}"
    out["accept-encoding"] = "identity"  # pass bytes through as they come; no decode-and-recode
    return out


def response_headers(headers: httpx.Headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _SKIPPED_RESPONSE_HEADERS}


class UpstreamClient:
    """One pooled client for every upstream: keep-alive connections are reused across requests.

    httpx's request and response types over aiohttp's connection pool (infra/http_transport.py):
    httpx's own pool was two thirds of the proxy's CPU per request. Requests go to the transport
    directly: a proxy needs none of httpx.AsyncClient's URL merging, cookie jar, auth and redirect
    handling, which were a third of what was left (py-spy). The read timeout bounds each read, not the
    whole answer, so a long stream runs on while it keeps sending. `transport` replaces the network
    (tests)."""

    def __init__(self, gateway: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout = httpx.Timeout(connect=gateway.gateway_connect_timeout_s, read=gateway.upstream_timeout_s,
                                      write=gateway.upstream_timeout_s,
                                      pool=gateway.gateway_connect_timeout_s).as_dict()
        self._transport = transport or AiohttpTransport(max_connections=gateway.gateway_max_connections,
                                                        keepalive_s=30, whole_call_timeout=False)

    async def send(self, method: str, url: str, headers: dict[str, str], content: bytes | None = None,
                   stream: bool = False) -> httpx.Response:
        """The upstream's answer; read whole unless `stream` (then the caller reads and closes it)."""
        request = httpx.Request(method, url, content=content, headers=headers, extensions={"timeout": self._timeout})
        response = await self._transport.handle_async_request(request)
        if not stream:
            try:
                await response.aread()
            finally:
                await response.aclose()
        return response

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._transport.aclose()
