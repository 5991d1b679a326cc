"""Turns one production request/response pair into an InferenceEvent: ids, hashes, normalisation."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from ulid import ULID

from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, Usage

__all__ = ["new_event_id", "request_hash", "normalize_chat_request", "capture_chat"]

# Parameters that change what a model answers; anything else (user ids, metadata) is not replayed.
_REPLAYED_PARAMS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n",
    "presence_penalty", "frequency_penalty", "response_format", "logprobs", "top_logprobs",
)


def new_event_id(at: datetime) -> str:
    """A ULID: unique, and sorts by the time of the request."""
    return str(ULID.from_datetime(at))


def request_hash(request: NormalizedRequest) -> str:
    """Identical requests hash alike, whatever the key order or the stream flag."""
    canonical = {
        "kind": request.kind,
        "model": request.model,
        "messages": [m.model_dump(exclude_none=True) for m in request.messages],
        "prompt": request.prompt,
        "params": request.params,
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multi-part content: keep the text parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return json.dumps(content, ensure_ascii=False)


def normalize_chat_request(body: dict[str, Any]) -> tuple[NormalizedRequest, str | None]:
    """The request as challengers receive it, and why it must not be replayed (None if it may)."""
    messages = []
    has_tool_traffic = False
    for raw in body.get("messages") or []:
        if not isinstance(raw, dict):
            continue
        if raw.get("role") in ("tool", "function") or raw.get("tool_calls") or raw.get("function_call"):
            has_tool_traffic = True
        messages.append(ChatMessage(role=str(raw.get("role", "user")), content=_content_text(raw.get("content")),
                                    name=raw.get("name")))
    tools_present = bool(body.get("tools") or body.get("functions") or has_tool_traffic)
    request = NormalizedRequest(
        kind="chat",
        model=str(body.get("model", "")),
        messages=messages,
        params={k: body[k] for k in _REPLAYED_PARAMS if k in body},
        tools_present=tools_present,
        stream=bool(body.get("stream", False)),
    )
    return request, ("tools: a replay could execute side effects" if tools_present else None)


def _chat_response(status_code: int, body: dict[str, Any] | None) -> CapturedResponse:
    if not body or status_code >= 400:
        return CapturedResponse(status_code=status_code)
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    usage = body.get("usage") or {}
    return CapturedResponse(
        status_code=status_code,
        text=_content_text(message.get("content")),
        finish_reason=choice.get("finish_reason"),
        usage=Usage(prompt_tokens=int(usage.get("prompt_tokens") or 0),
                    completion_tokens=int(usage.get("completion_tokens") or 0)) if usage else None,
    )


def capture_chat(
    *,
    request_body: dict[str, Any],
    response_body: dict[str, Any] | None,
    status_code: int,
    ts_request: datetime,
    ts_response: datetime,
    route: str,
    app: str,
    model_rev: str,
    tenant: str | None = None,
    tags: dict[str, str] | None = None,
    extra_not_replayable_reason: str | None = None,
) -> InferenceEvent:
    request, reason = normalize_chat_request(request_body)
    reason = reason or extra_not_replayable_reason
    response = _chat_response(status_code, response_body)
    if reason is None and status_code >= 400:
        reason = f"production answered {status_code}: nothing to compare against"
    return InferenceEvent(
        event_id=new_event_id(ts_request),
        app=app,
        route=route,
        tenant=tenant,
        ts_request=ts_request,
        ts_response=ts_response,
        production_model=str((response_body or {}).get("model") or request.model),
        production_model_rev=model_rev,
        request=request,
        response=response,
        latency_ms=max(0.0, (ts_response - ts_request).total_seconds() * 1000.0),
        replayable=reason is None,
        not_replayable_reason=reason,
        tags=tags or {},
        request_hash=request_hash(request),
    )
