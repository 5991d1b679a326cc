"""Challengers at run time: list, deploy (add or replace), remove, health, and a one-off test call."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from analytics.reports.overview import health_mark, recent_health
from schemas.errors import NotFoundError
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest
from schemas.settings import ChallengerConfig
from shadow_optic.api.auth import Principal, actor, require_role
from shadow_optic.api.models import ChallengerHealth, DeployResult, RemoveResult, TestCallRequest, TestCallResult
from shadow_optic.api.state import ApiState, api_state

router = APIRouter(prefix="/challengers", tags=["challengers"])
State = Annotated[ApiState, Depends(api_state)]
Reader = [Depends(require_role("read"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
Minutes = Annotated[int, Query(ge=1, le=24 * 60, description="window of recent scored rows")]


async def _record(state: ApiState, kind: str, name: str, verdict: str, who: str, evidence: dict) -> None:
    """An admin action in the history, with who did it (the token's name)."""
    from analytics.history import new_decision, record_decision

    record = new_decision(state.settings.app_name, kind, name, verdict, f"{kind} through the control API by {who}",
                          evidence=evidence, actor=who)
    await state.ch(record_decision, state.settings, record)


async def _config(state: ApiState, name: str) -> ChallengerConfig:
    return await state.challengers.get(name)  # NotFoundError: 404


@router.get("", response_model=list[ChallengerConfig], dependencies=Reader, summary="Registered challengers (API keys masked)")
async def list_challengers(state: State) -> list[ChallengerConfig]:
    # what a worker would start with, read only: a GET never writes the registry
    return (await state.challengers.view(state.settings.challengers))[1]


@router.post("", response_model=DeployResult, status_code=201,
             summary="Deploy a challenger: add or replace it; every worker follows without restart")
async def deploy(who: Admin, state: State, config: ChallengerConfig, response: Response) -> DeployResult:
    await state.challengers.seed(state.settings.challengers)  # writes only if the configured list changed
    _, current = await state.challengers.load()
    replaced = any(c.name == config.name for c in current)
    await state.challengers.put(config)
    await _record(state, "deploy", config.name, "replaced" if replaced else "deployed", actor(who, "api"),
                  config.model_dump(mode="json", exclude={"api_key"}))
    if replaced:
        response.status_code = 200
    return DeployResult(name=config.name, replaced=replaced, registry_version=await state.challengers.version())


@router.delete("/{name}", response_model=RemoveResult, summary="Remove a challenger; workers stop calling it")
async def remove(who: Admin, state: State, name: str) -> RemoveResult:
    await state.challengers.seed(state.settings.challengers)  # writes only if the configured list changed
    if not await state.challengers.remove(name):
        raise NotFoundError(f"no challenger named {name!r} in the registry")
    await _record(state, "remove", name, "removed", actor(who, "api"), {})
    return RemoveResult(name=name, removed=True, registry_version=await state.challengers.version())


async def _probe(state: ApiState, config: ChallengerConfig) -> tuple[bool | None, int | None, float | None, str | None]:
    if config.kind in ("json", "python"):
        # A JSON model server has no standard route to probe without a real call; a python one has no URL.
        return None, None, None, None
    headers = {"Authorization": f"Bearer {config.api_key.get_secret_value()}"} if config.api_key else {}
    started = time.perf_counter()
    try:
        answer = await state.http.get(f"{config.base_url.rstrip('/')}/models", headers=headers,
                                      timeout=min(config.timeout_s, 5.0))
    except Exception as exc:  # httpx raises many kinds; all mean "not reachable"
        return False, None, None, f"{type(exc).__name__}: {exc}"[:300]
    latency = (time.perf_counter() - started) * 1000
    ok = answer.is_success
    return ok, answer.status_code, round(latency, 1), None if ok else answer.text[:300]


async def _health(state: ApiState, configs: list[ChallengerConfig], app: str, minutes: int) -> list[ChallengerHealth]:
    recent = {r.challenger: r for r in await state.ch(recent_health, app, minutes)}
    probes = await asyncio.gather(*(_probe(state, c) for c in configs))
    out = []
    for config, (reachable, status, latency, error) in zip(configs, probes):
        r = recent.get(config.name)
        mark = "down" if reachable is False else health_mark(r, state.settings.promotion_max_error_rate)
        out.append(ChallengerHealth(challenger=config.name, health=mark, reachable=reachable, probe_status=status,
                                    probe_latency_ms=latency, probe_error=error, recent=r, window_minutes=minutes))
    return out


@router.get("/health", response_model=list[ChallengerHealth], dependencies=Reader,
            summary="Health of every registered challenger: a live probe and its recent error/breaker figures")
async def health_all(state: State, app: str | None = None, minutes: Minutes = 15) -> list[ChallengerHealth]:
    _, configs = await state.challengers.load()
    return await _health(state, configs, state.app_name(app), minutes)


@router.get("/{name}/health", response_model=ChallengerHealth, dependencies=Reader, summary="Health of one challenger")
async def health_one(state: State, name: str, app: str | None = None, minutes: Minutes = 15) -> ChallengerHealth:
    return (await _health(state, [await _config(state, name)], state.app_name(app), minutes))[0]


@router.post("/{name}/test", response_model=TestCallResult,
             summary="One call to a challenger now, outside the pipeline (not scored, not stored, no rate limit)")
async def test_call(who: Admin, state: State, name: str, body: TestCallRequest) -> TestCallResult:
    from stream_agents.challenger_client import ChallengerClient

    config = await _config(state, name)
    if config.kind == "python":
        raise HTTPException(422, f"{name} is an in-process challenger ({config.target}): it runs inside the worker, "
                                 "not the API; call the callable directly to try it")
    if config.kind != "json" and not (body.prompt or body.messages):
        raise HTTPException(422, "give a prompt or messages to send")
    messages = list(body.messages) or ([ChatMessage(role="user", content=body.prompt)] if config.kind == "chat" else [])
    now = datetime.now(UTC)
    event = InferenceEvent(
        event_id=f"apitest-{uuid.uuid4().hex[:20]}", app=state.settings.app_name, route="/api/test", ts_request=now,
        ts_response=now, production_model="api-test",
        request=NormalizedRequest(kind=config.kind, model=config.model, messages=messages,
                                  prompt=body.prompt if config.kind == "completion" else None, params=body.params),
        response=CapturedResponse(status_code=200), latency_ms=0.0, request_hash="api-test")
    outcome = await ChallengerClient(config, state.http, max_attempts=1,
                                     price=state.settings.challenger_price(config)).call(event)
    r = outcome.result
    return TestCallResult(challenger=name, status=r.status, text=r.response_text, latency_ms=r.latency_ms,
                          usage=r.usage, cost_usd=r.cost_usd, error=r.error, attempts=outcome.attempts)
