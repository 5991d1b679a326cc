"""Calls one challenger (OpenAI-compatible chat) with a replayed event; never raises, returns a status."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime

import httpx

from schemas.events import InferenceEvent, ShadowResult, ShadowStatus, Usage
from schemas.settings import ChallengerConfig

__all__ = ["ChallengerClient", "SHADOW_TRAFFIC_HEADER"]

# Marks every replayed call, so providers' caches, logs and billing can keep shadow traffic apart.
SHADOW_TRAFFIC_HEADER = "X-Shadow-Traffic"
_RETRIED_STATUSES = {429, 500, 502, 503, 504}


class ChallengerClient:
    def __init__(self, config: ChallengerConfig, http: httpx.AsyncClient, max_attempts: int = 3) -> None:
        self.config = config
        self._http = http
        self._max_attempts = max_attempts
        self._url = f"{config.base_url.rstrip('/')}/chat/completions"

    def _payload(self, event: InferenceEvent) -> dict:
        request = event.request
        payload: dict = {
            "model": self.config.model,
            "messages": [m.model_dump(exclude_none=True) for m in request.messages],
            **request.params,
        }
        payload["stream"] = False  # the comparison needs the whole answer; streaming adds nothing here
        return payload

    def _headers(self, event: InferenceEvent) -> dict[str, str]:
        headers = {SHADOW_TRAFFIC_HEADER: "1", "X-Shadow-Event-Id": event.event_id}
        if self.config.api_key is not None:
            headers["Authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        return headers

    def _result(self, event: InferenceEvent, status: ShadowStatus, **fields: object) -> ShadowResult:
        return ShadowResult(event=event, challenger=self.config.name, challenger_model=self.config.model,
                            is_control=self.config.control, status=status, ts_called=datetime.now(UTC),
                            **fields)

    async def call(self, event: InferenceEvent) -> ShadowResult:
        payload, headers = self._payload(event), self._headers(event)
        last_error = ""
        for attempt in range(1, self._max_attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.post(self._url, json=payload, headers=headers,
                                                 timeout=self.config.timeout_s)
            except httpx.TimeoutException:
                return self._result(event, ShadowStatus.TIMEOUT, error=f"no answer within {self.config.timeout_s}s",
                                    latency_ms=(time.perf_counter() - started) * 1000)
            except httpx.HTTPError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                latency_ms = (time.perf_counter() - started) * 1000
                if response.status_code == 200:
                    return self._parse_ok(event, response, latency_ms)
                last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                if response.status_code not in _RETRIED_STATUSES:
                    break
                retry_after = _retry_after_s(response)
                if retry_after is not None and attempt < self._max_attempts:
                    await asyncio.sleep(min(retry_after, 30.0))
                    continue
            if attempt < self._max_attempts:
                # Full jitter: spreads retries of many workers instead of synchronising them.
                await asyncio.sleep(random.uniform(0, 0.2 * 2**attempt))
        return self._result(event, ShadowStatus.ERROR, error=last_error)

    def _parse_ok(self, event: InferenceEvent, response: httpx.Response, latency_ms: float) -> ShadowResult:
        try:
            body = response.json()
            choice = body["choices"][0]
            text = choice.get("message", {}).get("content") or ""
            usage_raw = body.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return self._result(event, ShadowStatus.ERROR, latency_ms=latency_ms,
                                error=f"answer is not an OpenAI chat completion ({exc!r}): {response.text[:300]}")
        usage = Usage(prompt_tokens=int(usage_raw.get("prompt_tokens") or 0),
                      completion_tokens=int(usage_raw.get("completion_tokens") or 0))
        return self._result(event, ShadowStatus.OK, response_text=text, finish_reason=choice.get("finish_reason"),
                            usage=usage, latency_ms=latency_ms,
                            cost_usd=self.config.price.cost(usage.prompt_tokens, usage.completion_tokens))


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
