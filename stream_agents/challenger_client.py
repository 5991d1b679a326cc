"""Calls one challenger with a replayed event; never raises, returns a status.

Kinds: chat (OpenAI /chat/completions), completion (/completions), json (the request's params
POSTed to base_url, the JSON answer kept as canonical text). Retries 5xx, network errors and 429
with full jitter; honours Retry-After up to a cap; does not retry a timeout (a slow provider is
not helped by more load: the per-call timeout is the budget).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from schemas.events import InferenceEvent, ShadowResult, ShadowStatus, Usage
from schemas.settings import ChallengerConfig, ModelPrice
from stream_agents.retry import RETRIED_STATUSES, backoff_delay, parse_retry_after

__all__ = ["CallOutcome", "ChallengerClient", "SHADOW_TRAFFIC_HEADER"]

# Marks every replayed call, so providers' caches, logs and billing can keep shadow traffic apart.
SHADOW_TRAFFIC_HEADER = "X-Shadow-Traffic"


@dataclass(frozen=True)
class CallOutcome:
    result: ShadowResult
    attempts: int
    retry_after_s: float | None  # the longest Retry-After the provider asked for, if any
    provider_fault: bool         # counts against the breaker: 5xx, timeout, network, garbage answer


class ChallengerClient:
    def __init__(self, config: ChallengerConfig, http: httpx.AsyncClient, max_attempts: int = 3,
                 retry_after_cap_s: float = 10.0, rng: random.Random | None = None,
                 price: ModelPrice | None = None) -> None:
        self.config = config
        # By model name, never by role: callers pass `Settings.challenger_price(config)`.
        self.price = price or config.price or ModelPrice()
        self._http = http
        self._max_attempts = max_attempts
        self._retry_after_cap_s = retry_after_cap_s
        self._rng = rng or random.Random()
        base = config.base_url.rstrip("/")
        self._url = {"chat": f"{base}/chat/completions", "completion": f"{base}/completions"}.get(
            config.kind, config.base_url)  # json: the URL as given; python: unused (python_challenger.py)

    def _payload(self, event: InferenceEvent) -> dict:
        request = event.request
        if self.config.kind == "json":
            return dict(request.params)
        payload: dict = {"model": self.config.model, **request.params}
        if self.config.kind == "completion":
            payload["prompt"] = request.prompt if request.prompt is not None else request.last_user_text()
        else:
            payload["messages"] = [m.model_dump(exclude_none=True) for m in request.messages]
        payload["stream"] = False  # the comparison needs the whole answer; streaming adds nothing here
        return payload

    def _headers(self, event: InferenceEvent) -> dict[str, str]:
        headers = {SHADOW_TRAFFIC_HEADER: "1", "X-Shadow-Event-Id": event.event_id}
        if self.config.api_key is not None:
            headers["Authorization"] = f"Bearer {self.config.api_key.get_secret_value()}"
        return headers

    def result(self, event: InferenceEvent, status: ShadowStatus, **fields: object) -> ShadowResult:
        return ShadowResult(event=event, challenger=self.config.name, challenger_model=self.config.model,
                            is_control=self.config.control, status=status, ts_called=datetime.now(UTC),
                            **fields)

    async def call(self, event: InferenceEvent) -> CallOutcome:
        payload, headers = self._payload(event), self._headers(event)
        last_error, retry_after_max, fault = "", None, True
        for attempt in range(1, self._max_attempts + 1):
            started = time.perf_counter()
            try:
                response = await self._http.post(self._url, json=payload, headers=headers,
                                                 timeout=self.config.timeout_s)
            except httpx.TimeoutException:
                return CallOutcome(self.result(event, ShadowStatus.TIMEOUT,
                                               error=f"no answer within {self.config.timeout_s}s",
                                               latency_ms=(time.perf_counter() - started) * 1000),
                                   attempt, retry_after_max, provider_fault=True)
            except httpx.HTTPError as exc:
                last_error, fault = f"{type(exc).__name__}: {exc}", True
            else:
                latency_ms = (time.perf_counter() - started) * 1000
                if response.status_code == 200:
                    result = self._parse_ok(event, response, latency_ms)
                    return CallOutcome(result, attempt, retry_after_max,
                                       provider_fault=result.status is not ShadowStatus.OK)
                last_error = f"HTTP {response.status_code}: {response.text[:300]}"
                # A 429 says "slow down", not "broken": the limiter handles it, the breaker does not.
                fault = response.status_code >= 500
                if response.status_code not in RETRIED_STATUSES:
                    break
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                if retry_after is not None:
                    retry_after_max = max(retry_after_max or 0.0, retry_after)
                    if retry_after > self._retry_after_cap_s:
                        break  # too long to hold this call: give up, the shared schedule is pushed back
                    if attempt < self._max_attempts:
                        await asyncio.sleep(retry_after + backoff_delay(0, self._rng))
                        continue
            if attempt < self._max_attempts:
                await asyncio.sleep(backoff_delay(attempt, self._rng))
        return CallOutcome(self.result(event, ShadowStatus.ERROR, error=last_error),
                           self._max_attempts, retry_after_max, provider_fault=fault)

    def _parse_ok(self, event: InferenceEvent, response: httpx.Response, latency_ms: float) -> ShadowResult:
        try:
            body = response.json()
            if self.config.kind == "json":
                return self.result(event, ShadowStatus.OK, latency_ms=latency_ms,
                                   response_text=json.dumps(body, sort_keys=True, ensure_ascii=False))
            choice = body["choices"][0]
            if self.config.kind == "completion":
                text = choice.get("text") or ""
            else:
                text = choice.get("message", {}).get("content") or ""
            usage_raw = body.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return self.result(event, ShadowStatus.ERROR, latency_ms=latency_ms,
                               error=f"answer is not an OpenAI {self.config.kind} completion ({exc!r}): "
                                     f"{response.text[:300]}")
        usage = Usage(prompt_tokens=int(usage_raw.get("prompt_tokens") or 0),
                      completion_tokens=int(usage_raw.get("completion_tokens") or 0))
        return self.result(event, ShadowStatus.OK, response_text=text, finish_reason=choice.get("finish_reason"),
                           usage=usage, latency_ms=latency_ms,
                           cost_usd=self.price.cost(usage.prompt_tokens, usage.completion_tokens))

    def estimate_cost(self, event: InferenceEvent) -> float:
        """What this call will likely cost: production's token counts at the challenger's prices."""
        usage = event.response.usage
        if usage is not None:
            return self.price.cost(usage.prompt_tokens, usage.completion_tokens)
        prompt_chars = sum(len(m.content) for m in event.request.messages) + len(event.request.prompt or "")
        return self.price.cost(prompt_chars // 4, len(event.response.text) // 4)
