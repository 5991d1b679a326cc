"""Turns one production request/response pair into an InferenceEvent: ids, hashes, normalisation.

Pure functions, no I/O: the mirror (producers.mirror) adds sampling, redaction and publishing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from ulid import ULID

from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, Usage

__all__ = [
    "RequestKind",
    "kind_of_route",
    "new_event_id",
    "request_hash",
    "normalize_request",
    "normalize_chat_request",
    "parse_response",
    "capture_chat",
]

RequestKind = Literal["chat", "completion", "embedding", "json"]

# Parameters that change what a model answers; anything else (user ids, metadata) is not replayed.
_REPLAYED_PARAMS = (
    "temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed", "n",
    "presence_penalty", "frequency_penalty", "response_format", "logprobs", "top_logprobs",
    "reasoning_effort", "logit_bias", "suffix", "echo", "best_of",
)
_EMBEDDING_PARAMS = ("dimensions", "encoding_format")
_TOOLS_REASON = "tools: a replay could execute side effects"


def kind_of_route(route: str) -> RequestKind:
    if route.endswith("/chat/completions"):
        return "chat"
    if route.endswith("/completions"):
        return "completion"
    if route.endswith("/embeddings"):
        return "embedding"
    return "json"


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
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
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
    return normalize_request("chat", body)


def normalize_request(kind: RequestKind, body: Any, query: dict[str, str] | None = None
                      ) -> tuple[NormalizedRequest, str | None]:
    """(request, reason it must not be replayed or None). `body` is the parsed JSON request."""
    if not isinstance(body, dict):
        body = {"input": body}
    model = str(body.get("model") or "")
    if kind == "json":
        params: dict[str, Any] = {"body": body}
        if query:
            params["query"] = query
        return NormalizedRequest(kind="json", model=model, params=params), None
    if kind == "embedding":
        raw = body.get("input")
        single = raw if isinstance(raw, str) else None
        params = {k: body[k] for k in _EMBEDDING_PARAMS if k in body}
        if single is None and raw is not None:
            params["input"] = raw
        return NormalizedRequest(kind="embedding", model=model, prompt=single, params=params), None
    params = {k: body[k] for k in _REPLAYED_PARAMS if k in body}
    if kind == "completion":
        raw = body.get("prompt")
        if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str):
            raw = raw[0]
        prompt = raw if isinstance(raw, str) else None
        if prompt is None and raw is not None:
            params["prompt"] = raw
        return NormalizedRequest(kind="completion", model=model, prompt=prompt, params=params,
                                 stream=bool(body.get("stream", False))), None
    messages = []
    has_tool_traffic = False
    for raw in body.get("messages") or []:
        if not isinstance(raw, dict):
            continue
        if raw.get("role") in ("tool", "function") or raw.get("tool_calls") or raw.get("function_call"):
            has_tool_traffic = True
        name = raw.get("name")
        messages.append(ChatMessage(role=str(raw.get("role", "user")), content=_content_text(raw.get("content")),
                                    name=str(name) if name is not None else None))
    tools_present = bool(body.get("tools") or body.get("functions") or has_tool_traffic)
    request = NormalizedRequest(kind="chat", model=model, messages=messages, params=params,
                                tools_present=tools_present, stream=bool(body.get("stream", False)))
    return request, (_TOOLS_REASON if tools_present else None)


def _usage(body: dict[str, Any]) -> Usage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    try:
        return Usage(prompt_tokens=max(0, int(usage.get("prompt_tokens") or 0)),
                     completion_tokens=max(0, int(usage.get("completion_tokens") or 0)))
    except (TypeError, ValueError):
        return None


def parse_response(kind: RequestKind, status_code: int, body: Any, raw_text: str = "") -> CapturedResponse:
    """What production answered, in the shape challengers are compared on."""
    if status_code >= 400 or body is None:
        return CapturedResponse(status_code=status_code, text=raw_text if kind == "json" else "")
    if kind == "json" or not isinstance(body, dict):
        text = raw_text or json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return CapturedResponse(status_code=status_code, text=text)
    if kind == "embedding":
        return CapturedResponse(status_code=status_code, usage=_usage(body))
    choices = body.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    if kind == "chat":
        message = choice.get("message") or {}
        text = _content_text(message.get("content")) if isinstance(message, dict) else ""
    else:
        text = _content_text(choice.get("text"))
    finish = choice.get("finish_reason")
    return CapturedResponse(status_code=status_code, text=text, finish_reason=str(finish) if finish else None,
                            usage=_usage(body))


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
    """A chat event without redaction or sampling (kept for callers of the first version)."""
    request, reason = normalize_request("chat", request_body)
    reason = reason or extra_not_replayable_reason
    response = parse_response("chat", status_code, response_body)
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
