"""`shadow-optic sim-model`: an OpenAI-compatible model server for local runs and tests.

Answers from recorded answers keyed by prompt, or synthetically. Recorded answers come from a JSONL
file with a prompt and an answer field (e.g. data/paired_responses.jsonl, field production_response or
challenger_response: `--answers FILE --field F`) or from a scenario file (data/scenario_*.jsonl:
`--scenario FILE --role production|control|<challenger model>`). Prompts are looked up after the same
masking the gateway applies (`producers.redaction.Redactor` with its defaults) on both sides, so a
replayed request whose phone number the gateway masked still finds its answer. With recorded answers,
a prompt that has none is an HTTP 404, never an invented answer (counted: `unknown_prompts`); without
any, every answer is synthetic.

`--judge-file FILE` (a scenario file, or a pairs file with `rating`) makes it also a recorded pairwise
judge: a chat request whose user message is the prompt of `stream_agents.scoring.pairwise` is
answered `{"winner": "A" | "B" | "tie"}` from the recorded preference for that (prompt, answer,
answer), in the order shown; a pair without a recorded preference is an HTTP 422, never a guess
(`judged`, `judge_unknown` on /healthz).

Latency, errors and refusals are set by flags, reproducibly (a seed). `/v1/embeddings` answers with
the local all-MiniLM-L6-v2 when the `local-embeddings` extra is installed, otherwise with a
deterministic hashing embedding; the response's `model` names which (`hashing-384-v1` is word
hashing, not a semantic model). Tokens are counted as about 4 characters each, judge calls included.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from shadow_optic.recordings import (RecordedAnswers, RecordedJudge, load_answers, load_judge_records,
                                     load_scenario_answers, short)
from stream_agents.scoring.pairwise import split_pairwise_prompt

__all__ = ["SimModelConfig", "create_sim_model"]

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


class SimModelConfig(BaseModel):
    model: str = "sim-model"
    answers_file: Path | None = None
    answer_field: str = "production_response"
    prompt_field: str = "prompt"
    scenario_file: Path | None = None  # data/scenario_*.jsonl: answers of `role`
    role: str = "production"  # production, control, or a challenger's model name
    judge_file: Path | None = None  # scenario or pairs file (with `rating`): the recorded pairwise judge
    latency_ms: float = Field(0.0, ge=0)
    jitter_ms: float = Field(0.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    refusal_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 0
    embeddings: Literal["auto", "local", "hashing"] = "auto"  # auto: local model if installed
    # Fault injection for the replay stage's tests (also changeable at run time: POST /admin/faults).
    rate_limited_rate: float = Field(0.0, ge=0, le=1, description="share of requests answered 429")
    retry_after_s: float | None = Field(None, ge=0, description="Retry-After sent with each 429")

    @model_validator(mode="after")
    def _one_answers_source(self) -> SimModelConfig:
        if self.answers_file is not None and self.scenario_file is not None:
            raise ValueError("give recorded answers either as answers_file (--answers) or as scenario_file "
                             "(--scenario), not both")
        return self


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)  # the usual ~4 characters per token


def _error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                   "code": code}}, status_code=status)


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


def create_sim_model(config: SimModelConfig) -> Starlette:
    if config.answers_file:
        recorded: RecordedAnswers | None = RecordedAnswers(
            load_answers(config.answers_file, config.prompt_field, config.answer_field))
    elif config.scenario_file:
        recorded = RecordedAnswers(load_scenario_answers(config.scenario_file, config.role))
    else:
        recorded = None  # synthetic answers
    judge = RecordedJudge(load_judge_records(config.judge_file)) if config.judge_file else None
    rng = random.Random(config.seed)
    counters = {"requests": 0, "errors": 0, "refusals": 0, "unknown_prompts": 0, "rate_limited": 0,
                "shadow_requests": 0, "repeated_event_ids": 0, "judged": 0, "judge_unknown": 0}
    seen_event_ids: set[str] = set()
    arrivals: list[float] = []  # wall-clock arrival of each shadow request (bounded): rate checks
    faults = {"error_rate": config.error_rate, "latency_ms": config.latency_ms,
              "rate_limited_rate": config.rate_limited_rate, "retry_after_s": config.retry_after_s}

    def note_shadow(request: Request) -> None:
        # Lets tests check "no event sent twice" from the model's side.
        if request.headers.get("x-shadow-traffic"):
            counters["shadow_requests"] += 1
            if len(arrivals) < 100_000:
                arrivals.append(time.time())
        event_id = request.headers.get("x-shadow-event-id")
        if event_id:
            if event_id in seen_event_ids:
                counters["repeated_event_ids"] += 1
            seen_event_ids.add(event_id)

    async def injected_fault() -> Response | None:
        delay = faults["latency_ms"] + (rng.uniform(-config.jitter_ms, config.jitter_ms) if config.jitter_ms else 0)
        if faults["rate_limited_rate"] and rng.random() < faults["rate_limited_rate"]:
            counters["rate_limited"] += 1
            headers = {} if faults["retry_after_s"] is None else {"Retry-After": f"{faults['retry_after_s']:g}"}
            return JSONResponse({"error": {"message": "simulated rate limit", "type": "rate_limit_error"}},
                                status_code=429, headers=headers)
        if delay > 0:
            await asyncio.sleep(delay / 1000)
        if faults["error_rate"] and rng.random() < faults["error_rate"]:
            counters["errors"] += 1
            return JSONResponse({"error": {"message": "simulated failure", "type": "server_error"}}, status_code=500)
        return None

    def answer_for(prompt: str) -> str | None:
        """The recorded answer (None: there is none, counted), or a synthetic one without recordings."""
        if recorded is None:
            return f"A synthetic answer from {config.model} to: {prompt[:200]}"
        answer = recorded.get(prompt)
        if answer is None:
            counters["unknown_prompts"] += 1
        return answer

    def no_answer(prompt: str) -> JSONResponse:
        return _error(404, f"no recorded answer for this prompt: {short(prompt)}", "no_recorded_answer")

    def judged_text(prompt: str) -> Response | str | None:
        """The recorded judge's answer to a pairwise judge prompt, its 422, or None: not a judge prompt."""
        parts = split_pairwise_prompt(prompt) if judge is not None else None
        if parts is None:
            return None
        preference, why = judge.verdict(*parts)  # type: ignore[union-attr]
        if preference is None:
            counters["judge_unknown"] += 1
            return _error(422, f"no recorded preference for this pair: {why}", "no_recorded_preference")
        counters["judged"] += 1
        return json.dumps({"winner": preference})

    async def chat_completions(request: Request) -> Response:
        counters["requests"] += 1
        note_shadow(request)
        try:
            body: dict[str, Any] = await request.json()
            messages = body.get("messages") or []
            prompt = next((_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
            prompt_chars = "".join(_text(m.get("content")) for m in messages)
        except (ValueError, AttributeError):
            return _error(400, "body must be a JSON chat completion request", "invalid_request")
        fault = await injected_fault()
        if fault is not None:
            return fault
        judged = judged_text(prompt)
        if isinstance(judged, Response):
            return judged
        if judged is not None:
            text = judged  # refusals are injected into answers only, not into judge verdicts
        elif config.refusal_rate and rng.random() < config.refusal_rate:
            counters["refusals"] += 1
            text = REFUSAL_TEXT
        else:
            answer = answer_for(prompt)
            if answer is None:
                return no_answer(prompt)
            text = answer
        created = int(time.time())
        usage = {"prompt_tokens": _tokens(prompt_chars), "completion_tokens": _tokens(text)}
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

    embedder: list[Any] = []  # built on first use: the local model takes seconds to load

    def get_embedder() -> Any:
        if not embedder:
            from stream_agents.scoring.embeddings import HashingEmbedder, LocalEmbedder, local_embedder_available

            local = config.embeddings == "local" or (config.embeddings == "auto" and local_embedder_available())
            embedder.append(LocalEmbedder() if local else HashingEmbedder())
        return embedder[0]

    async def embeddings(request: Request) -> Response:
        counters["requests"] += 1
        try:
            body: dict[str, Any] = await request.json()
            inputs = body["input"]
            inputs = [inputs] if isinstance(inputs, str) else list(inputs)
            if not all(isinstance(t, str) for t in inputs):
                raise ValueError("input must be a string or a list of strings")
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": {"message": f"bad embeddings request: {exc}",
                                           "type": "invalid_request_error"}}, status_code=400)
        if config.error_rate and rng.random() < config.error_rate:
            counters["errors"] += 1
            return JSONResponse({"error": {"message": "simulated failure", "type": "server_error"}}, status_code=500)
        model = get_embedder()
        vectors = await model.embed(inputs)
        tokens = sum(_tokens(t) for t in inputs)
        return JSONResponse({
            "object": "list", "model": model.model,
            "data": [{"object": "embedding", "index": i, "embedding": [float(x) for x in v]}
                     for i, v in enumerate(vectors)],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": config.model, "object": "model", "owned_by": "sim"}]})

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "answers": len(recorded) if recorded is not None else 0,
                             "judge_records": judge.records if judge is not None else 0, **counters,
                             "event_ids": len(seen_event_ids), "faults": faults})

    async def completions(request: Request) -> Response:
        counters["requests"] += 1
        note_shadow(request)
        try:
            body = await request.json()
            prompt = str(body.get("prompt") or "")
        except (ValueError, AttributeError):
            return JSONResponse({"error": {"message": "body must be JSON"}}, status_code=400)
        fault = await injected_fault()
        if fault is not None:
            return fault
        text = answer_for(prompt)
        if text is None:
            return no_answer(prompt)
        usage = {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(text)}
        return JSONResponse({"id": f"cmpl-sim-{counters['requests']}", "object": "text_completion",
                             "created": int(time.time()), "model": config.model,
                             "choices": [{"index": 0, "text": text, "finish_reason": "stop"}], "usage": usage})

    async def arrival_times(_request: Request) -> Response:
        return JSONResponse({"arrivals": arrivals})

    async def set_faults(request: Request) -> Response:
        """Change the injected faults of a running sim model (tests: a provider that breaks and heals)."""
        body = await request.json()
        unknown = set(body) - set(faults)
        if unknown:
            return JSONResponse({"error": f"unknown fault fields: {sorted(unknown)}"}, status_code=400)
        faults.update(body)
        return JSONResponse(faults)

    return Starlette(routes=[
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models),
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/admin/faults", set_faults, methods=["POST"]),
        Route("/admin/arrivals", arrival_times),
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
