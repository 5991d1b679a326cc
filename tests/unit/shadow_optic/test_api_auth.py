"""The control API's bearer tokens: 401 and 403 for every operation, by the role its OpenAPI entry states."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from schemas.settings import ApiToken, Settings
from shadow_optic.api import create_api
from shadow_optic.api.auth import LOCAL_OPERATOR, ROLE_EXTENSION, SCHEME_NAME, Principal, actor, require_role
from shadow_optic.cli import main

TOKENS = {"read": "r" * 8 + "-read-token-1", "review": "v" * 8 + "-review-token", "admin": "a" * 8 + "-admin-token-1"}
RANK = {"read": 0, "review": 1, "admin": 2}
STORES = {"clickhouse_url": "http://127.0.0.1:1", "redis_url": "redis://127.0.0.1:1/0"}


def _settings(**extra) -> Settings:
    tokens = [ApiToken(name=f"{role}-holder", role=role, token=value) for role, value in TOKENS.items()]
    return Settings(api_tokens=tokens, **STORES, **extra)


def _operations(doc: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, item in doc["paths"].items() for method, op in item.items()]


def _call(client: TestClient, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = path.replace("{name}", "some-challenger")
    return client.request(method.upper(), url, headers=headers, json={} if method in ("post", "put") else None)


@pytest.fixture(scope="module")
def api():
    app = create_api(_settings())
    # No lifespan: no store is opened. Authorization answers before any store is touched; a call that gets
    # through fails later (500/4xx), which is all these tests need to tell "let in" from "kept out".
    return app, TestClient(app, raise_server_exceptions=False)


def test_the_document_declares_the_bearer_scheme_and_a_role_on_every_operation_but_liveness(api):
    app, _ = api
    doc = app.openapi()
    assert doc["components"]["securitySchemes"][SCHEME_NAME] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"][SCHEME_NAME]["description"]}
    open_ops = {(m, p) for m, p, op in _operations(doc) if ROLE_EXTENSION not in op}
    # /review is the review page's HTML shell: a browser opens it without a header, and its data calls need roles.
    assert open_ops == {("get", "/healthz"), ("get", "/review")}
    for method, path, op in _operations(doc):
        if ROLE_EXTENSION in op:
            assert op["security"] == [{SCHEME_NAME: []}], (method, path)
            assert {"401", "403"} <= set(op["responses"]), (method, path)
    roles = {(m, p): op[ROLE_EXTENSION] for m, p, op in _operations(doc) if ROLE_EXTENSION in op}
    assert {roles[k] for k in [("post", "/challengers"), ("delete", "/challengers/{name}"), ("post", "/promote"),
                               ("post", "/rollback"), ("post", "/challengers/{name}/test")]} == {"admin"}
    assert roles[("get", "/status")] == roles[("get", "/history")] == roles[("get", "/costs")] == "read"


def test_every_protected_operation_answers_401_without_a_valid_token(api):
    app, client = api
    for method, path, op in _operations(app.openapi()):
        if ROLE_EXTENSION not in op:
            continue
        for token in (None, "not-a-known-token-at-all"):
            response = _call(client, method, path, token)
            assert response.status_code == 401, (method, path, token, response.text)
            assert response.json()["error"] == "Unauthorized" and response.json()["message"]
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_each_role_gets_403_below_and_through_at_or_above_the_stated_role(api):
    app, client = api
    for method, path, op in _operations(app.openapi()):
        required = op.get(ROLE_EXTENSION)
        if required is None:
            continue
        for role, token in TOKENS.items():
            status = _call(client, method, path, token).status_code
            if RANK[role] < RANK[required]:
                assert status == 403, (method, path, role, status)
            else:
                assert status not in (401, 403), (method, path, role, status)


def test_a_403_names_the_token_and_the_role_needed(api):
    _, client = api
    response = _call(client, "post", "/promote", TOKENS["read"])
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "Forbidden" and "read-holder" in body["message"] and "admin" in body["message"]
    assert TOKENS["read"] not in response.text


def test_require_role_review_for_the_review_pages():
    app = create_api(_settings())

    async def page(who: Principal = Depends(require_role("review"))) -> dict:
        return {"who": who.name}

    app.add_api_route("/review-probe", page, methods=["GET"])
    client = TestClient(app)
    assert client.get("/review-probe").status_code == 401
    assert client.get("/review-probe", headers={"Authorization": f"Bearer {TOKENS['read']}"}).status_code == 403
    for role in ("review", "admin"):
        answer = client.get("/review-probe", headers={"Authorization": f"Bearer {TOKENS[role]}"})
        assert answer.status_code == 200 and answer.json() == {"who": f"{role}-holder"}
    assert require_role("review") is require_role("review")  # one dependency per role: FastAPI reuses its answer
    with pytest.raises(ValueError, match="unknown role"):
        require_role("owner")


def test_without_tokens_the_local_operator_is_let_in_and_the_body_names_the_actor():
    app = create_api(Settings(**STORES))
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/status").status_code not in (401, 403)
    local = Principal(name=LOCAL_OPERATOR, role="admin", authenticated=False)
    assert actor(local, "ops-script") == "ops-script"
    assert actor(Principal(name="alice", role="admin", authenticated=True), "someone-else") == "alice"


def test_the_api_refuses_to_listen_beyond_loopback_without_tokens(capsys):
    assert main(["api", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "SHADOW_API_TOKENS" in capsys.readouterr().err


def test_tokens_are_checked_at_start(monkeypatch):
    short = [{"name": "x", "role": "admin", "token": "short"}]
    with pytest.raises(ValueError, match="at least 16"):
        Settings(api_tokens=short)
    twice = [{"name": "a", "role": "read", "token": "t" * 20}, {"name": "b", "role": "admin", "token": "t" * 20}]
    with pytest.raises(ValueError, match="share one token") as caught:
        Settings(api_tokens=twice)
    assert "t" * 20 not in str(caught.value)
