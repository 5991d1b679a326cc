"""The challenger client against an in-process HTTP transport (the provider, not Kafka/Redis, is faked)."""

import asyncio
import json
import random
from datetime import UTC, datetime

import httpx

from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, ShadowStatus, Usage
from schemas.settings import ChallengerConfig
from stream_agents.challenger_client import SHADOW_TRAFFIC_HEADER, ChallengerClient


def _event() -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(event_id="e1", route="/v1/chat/completions", ts_request=now, ts_response=now,
                          production_model="gpt-4",
                          request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content="hi")],
                                                    params={"temperature": 0}),
                          response=CapturedResponse(status_code=200, text="hello", usage=Usage(prompt_tokens=1000,
                                                                                               completion_tokens=500)),
                          latency_ms=10, request_hash="h")


def _ok(text: str = "hi there") -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": text}, "text": text,
                                                  "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": 10, "completion_tokens": 5}})


def _run(answers: list, kind: str = "chat", **config: object):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[min(len(seen) - 1, len(answers) - 1)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            cfg = ChallengerConfig(name="c", base_url="http://model/v1", model="m", kind=kind, **config)
            client = ChallengerClient(cfg, http, max_attempts=3, retry_after_cap_s=0.05, rng=random.Random(0))
            return await client.call(_event()), client

    outcome, client = asyncio.run(go())
    return outcome, seen, client


def test_every_call_is_marked_as_shadow_traffic_and_never_streams():
    outcome, seen, _ = _run([_ok()])
    assert outcome.result.status is ShadowStatus.OK and outcome.attempts == 1
    assert seen[0].headers[SHADOW_TRAFFIC_HEADER] == "1" and seen[0].headers["x-shadow-event-id"] == "e1"
    body = json.loads(seen[0].content)
    assert body["stream"] is False and body["model"] == "m" and body["temperature"] == 0


def test_5xx_is_retried_and_counted_as_a_fault_only_when_it_never_heals():
    outcome, seen, _ = _run([httpx.Response(500), _ok()])
    assert outcome.result.status is ShadowStatus.OK and len(seen) == 2 and not outcome.provider_fault
    outcome, seen, _ = _run([httpx.Response(503)])
    assert outcome.result.status is ShadowStatus.ERROR and len(seen) == 3 and outcome.provider_fault


def test_429_honours_retry_after_and_is_not_a_breaker_fault():
    outcome, seen, _ = _run([httpx.Response(429, headers={"Retry-After": "0.01"}), _ok()])
    assert outcome.result.status is ShadowStatus.OK and outcome.retry_after_s == 0.01 and len(seen) == 2
    outcome, seen, _ = _run([httpx.Response(429, headers={"Retry-After": "60"})])
    assert len(seen) == 1  # longer than the cap: give up now, the limiter pushes everyone back
    assert outcome.result.status is ShadowStatus.ERROR and outcome.retry_after_s == 60 and not outcome.provider_fault


def test_a_timeout_is_not_retried():
    outcome, seen, _ = _run([httpx.ReadTimeout("slow")])
    assert outcome.result.status is ShadowStatus.TIMEOUT and len(seen) == 1 and outcome.provider_fault


def test_a_4xx_is_not_retried():
    outcome, seen, _ = _run([httpx.Response(400, text="bad request")])
    assert len(seen) == 1 and outcome.result.status is ShadowStatus.ERROR and not outcome.provider_fault


def test_completion_and_json_kinds():
    outcome, seen, _ = _run([_ok("done")], kind="completion")
    assert str(seen[0].url) == "http://model/v1/completions" and json.loads(seen[0].content)["prompt"] == "hi"
    assert outcome.result.response_text == "done"
    outcome, seen, _ = _run([httpx.Response(200, json={"label": "approve", "score": 0.9})], kind="json")
    assert str(seen[0].url) == "http://model/v1" and json.loads(seen[0].content) == {"temperature": 0}
    assert json.loads(outcome.result.response_text) == {"label": "approve", "score": 0.9}


def test_cost_uses_the_challenger_prices_and_the_estimate_uses_production_tokens():
    outcome, _, client = _run([_ok()], price={"input_per_1k": 1.0, "output_per_1k": 2.0})
    assert abs(outcome.result.cost_usd - (10 * 1.0 + 5 * 2.0) / 1000) < 1e-12
    assert abs(client.estimate_cost(_event()) - (1000 * 1.0 + 500 * 2.0) / 1000) < 1e-12
