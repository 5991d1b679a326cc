"""The API without services: its OpenAPI document and the JSON shape of errors."""

from __future__ import annotations

import pytest

from schemas.errors import (
    ChallengerError,
    ConfigError,
    InvalidRequestError,
    NotFoundError,
    StackError,
    StoreUnavailableError,
)
from schemas.settings import Settings
from shadow_optic.api import create_api
from shadow_optic.api.app import _status_of

SPEC_ENDPOINTS = {("get", "/status"), ("get", "/comparison"), ("get", "/challengers/{name}/comparison"),
                  ("post", "/challengers"), ("delete", "/challengers/{name}"), ("post", "/promote"),
                  ("post", "/rollback"), ("get", "/history"), ("get", "/costs"), ("get", "/readiness"),
                  ("get", "/drift"), ("get", "/lag"), ("get", "/challengers/health"),
                  ("get", "/challengers/{name}/health"), ("post", "/challengers/{name}/test")}


def _doc() -> dict:
    return create_api(Settings(clickhouse_url="http://127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")).openapi()


def test_openapi_document_is_valid_and_lists_every_endpoint() -> None:
    import openapi_spec_validator as validator
    doc = _doc()
    validator.validate(doc)
    present = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert SPEC_ENDPOINTS <= present


def test_every_operation_documents_the_error_body() -> None:
    doc = _doc()
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            ref = operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody"), (method, path)


def test_error_status_mapping() -> None:
    assert _status_of(ConfigError("x")) == 400
    assert _status_of(InvalidRequestError("x")) == 400
    assert _status_of(NotFoundError("x")) == 404
    assert _status_of(ChallengerError("x")) == 502
    assert _status_of(StoreUnavailableError("x")) == 503
    assert _status_of(StackError("x")) == 503


def test_missing_stores_fail_clearly_at_startup() -> None:
    from fastapi.testclient import TestClient

    with pytest.raises(ConfigError, match="SHADOW_CLICKHOUSE_URL"):
        with TestClient(create_api(Settings(redis_url="redis://127.0.0.1:1/0"))):
            pass


def test_a_missing_challenger_is_a_404_that_says_what_is_missing() -> None:
    import asyncio

    from stream_agents.registry import ChallengerRegistry

    class EmptyRedis:
        async def hget(self, _key: str, _field: str) -> None:
            return None

    with pytest.raises(NotFoundError, match="no challenger named 'nope'") as caught:
        asyncio.run(ChallengerRegistry(EmptyRedis(), "shadow").get("nope"))  # type: ignore[arg-type]
    assert _status_of(caught.value) == 404 and not caught.value.retriable
