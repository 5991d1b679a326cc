"""The HTTP control API: `create_api(settings)` builds a FastAPI app whose lifespan owns every client.

Errors always answer as JSON `ErrorBody` ({error, message, retriable}); OpenAPI at /openapi.json, docs at /docs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import (
    ChallengerError,
    ConfigError,
    InvalidEventError,
    InvalidRequestError,
    NotFoundError,
    ShadowOpticError,
    StackError,
    StoreUnavailableError,
)
from schemas.settings import Settings
from shadow_optic.api.auth import ROLE_EXTENSION
from shadow_optic.api.models import ErrorBody
from shadow_optic.api.routers import analysis, challengers, decisions, review, status
from shadow_optic.api.state import ApiState

__all__ = ["create_api"]

log = logging.getLogger(__name__)
_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 422, 500, 502, 503)}


def _status_of(exc: ShadowOpticError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, (ConfigError, InvalidRequestError, InvalidEventError)):  # an invalid body sent to the API
        return 400
    if isinstance(exc, ChallengerError):
        return 502
    if isinstance(exc, (StoreUnavailableError, StackError)):
        return 503
    return 500


def _json(status: int, body: ErrorBody, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShadowOpticError)
    async def shadow_error(_request: Request, exc: ShadowOpticError) -> JSONResponse:
        # One kind for every 404, whether a route or a named thing is missing.
        kind = "NotFound" if isinstance(exc, NotFoundError) else type(exc).__name__
        return _json(_status_of(exc), ErrorBody(error=kind, message=str(exc), retriable=exc.retriable))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
                422: "ValidationError"}.get(exc.status_code, "HTTPError")
        return _json(exc.status_code, ErrorBody(error=kind, message=str(exc.detail)), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"])
        return _json(422, ErrorBody(error="ValidationError", message=f"{where}: {first['msg']}", detail=errors))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # ClickHouse and Redis client errors land here: report them, they are usually an outage.
        log.exception("API call failed")
        return _json(500, ErrorBody(error=type(exc).__name__, message=str(exc)[:1000] or repr(exc), retriable=True))


def create_api(settings: Settings) -> FastAPI:
    """The app; the clients open when it starts (lifespan) and close when it stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ApiState(settings)
        await state.open()
        app.state.api = state
        try:
            yield
        finally:
            await state.close()

    app = FastAPI(title="Shadow-Optic control API", version="1",
                  description="Status, comparisons, challenger deploy/remove, promote, rollback, history, costs, "
                              "readiness, drift, lag, challenger health and test calls. Errors: JSON ErrorBody.",
                  lifespan=lifespan, responses=_ERRORS)
    app.state.api_tokens = list(settings.api_tokens)  # read by shadow_optic.api.auth.require_role
    for module in (status, analysis, challengers, decisions, review):
        _document_roles(module.router)
        app.include_router(module.router)
    _install_error_handlers(app)
    return app


def _document_roles(router: APIRouter) -> None:
    """Each protected operation says its minimum role (x-required-role) and its 401/403 answers."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = [d.dependency for d in (*router.dependencies, *route.dependencies)]
        calls += [d.call for d in route.dependant.dependencies]
        roles = [role for role in (getattr(call, "required_role", None) for call in calls) if role]
        if roles:
            route.openapi_extra = {**(route.openapi_extra or {}), ROLE_EXTENSION: roles[0]}
            route.responses = {**route.responses, 401: {"model": ErrorBody, "description": "no or unknown token"},
                               403: {"model": ErrorBody, "description": "the token's role is too low"}}
