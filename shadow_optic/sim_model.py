"""`shadow-optic sim-model`: an OpenAI-compatible model server for local runs and tests.

Answers from a JSONL file of recorded answers keyed by prompt (e.g. shared/data/paired_responses.jsonl,
field production_response or challenger_response), or synthetically; latency, errors and refusals
are set by flags, reproducibly (a seed).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["SimModelConfig", "create_sim_model", "load_answers"]

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


class SimModelConfig(BaseModel):
    model: str = "sim-model"
    answers_file: Path | None = None
    answer_field: str = "production_response"
    prompt_field: str = "prompt"
    latency_ms: float = Field(0.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    refusal_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 0


def load_answers(path: Path, prompt_field: str, answer_field: str) -> dict[str, str]:
    answers: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if prompt_field not in row or answer_field not in row:
                raise ValueError(f"{path}:{number}: needs fields {prompt_field!r} and {answer_field!r}")
            answers[row[prompt_field]] = row[answer_field]
    return answers


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # the usual ~4 characters per token


def create_sim_model(config: SimModelConfig) -> Starlette:
    answers = load_answers(config.answers_file, config.prompt_field, config.answer_field) if config.answers_file else {}
    rng = random.Random(config.seed)
    counters = {"requests": 0, "errors": 0, "refusals": 0, "unknown_prompts": 0}

    def answer_for(prompt: str) -> str:
        if prompt in answers:
            return answers[prompt]
        counters["unknown_prompts"] += 1
        return f"A synthetic answer from {config.model} to: {prompt[:200]}"

    async def chat_completions(request: Request) -> Response:
        counters["requests"] += 1
        try:
            body: dict[str, Any] = await request.json()
            messages = body.get("messages") or []
            prompt = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
        except (ValueError, AttributeError):
            return JSONResponse({"error": {"message": "body must be a JSON chat completion request",
                                           "type": "invalid_request_error"}}, status_code=400)
        delay = config.latency_ms + (rng.uniform(-config.jitter_ms, config.jitter_ms) if config.jitter_ms else 0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if config.error_rate and rng.random() < config.error_rate:
            counters["errors"] += 1
            return JSONResponse({"error": {"message": "simulated failure", "type": "server_error"}}, status_code=500)
        if config.refusal_rate and rng.random() < config.refusal_rate:
            counters["refusals"] += 1
            text = REFUSAL_TEXT
        else:
            text = answer_for(prompt)
        created = int(time.time())
        usage = {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        completion_id = f"chatcmpl-sim-{counters['requests']}"
        if body.get("stream"):
            return StreamingResponse(_stream(completion_id, created, config.model, text),
                                     media_type="text/event-stream")
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": config.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": usage,
        })

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": config.model, "object": "model", "owned_by": "sim"}]})

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "answers": len(answers), **counters})

    return Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", models),
        Route("/healthz", health),
    ])


async def _stream(completion_id: str, created: int, model: str, text: str):
    words = text.split(" ")
    for start in range(0, len(words), 8):
        piece = " ".join(words[start:start + 8]) + (" " if start + 8 < len(words) else "")
        chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        yield f"data: {json.dumps(chunk)}\n\n"
    final = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    yield f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n"
