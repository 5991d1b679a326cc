"""Bearer tokens and roles of the control API (shadow_optic/api/auth.py), without services."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from schemas.settings import ApiToken, Settings
from shadow_optic.api.auth import Caller, require_role


def _client(tokens: list[ApiToken]) -> TestClient:
    app = FastAPI()
    app.state.api = SimpleNamespace(settings=Settings(api_tokens=tokens))

    @app.get("/rate")
    def rate(caller: Annotated[Caller, Depends(require_role("review"))]) -> dict:
        return caller.model_dump()

    return TestClient(app)


TOKENS = [ApiToken(name="amy", token="amy-secret", roles=["review"]),
          ApiToken(name="rex", token="rex-secret", roles=["read"]),
          ApiToken(name="ada", token="ada-secret", roles=["admin"])]


def test_a_review_token_names_the_reviewer_and_higher_roles_include_lower_ones():
    client = _client(TOKENS)
    assert client.get("/rate", headers={"Authorization": "Bearer amy-secret"}).json()["name"] == "amy"
    # The name comes from the token, never from the header a caller could set.
    answer = client.get("/rate", headers={"Authorization": "Bearer ada-secret", "X-Shadow-Reviewer": "amy"})
    assert answer.json()["name"] == "ada"


def test_missing_wrong_or_too_weak_tokens_are_refused_without_echoing_them():
    client = _client(TOKENS)
    assert client.get("/rate").status_code == 401
    wrong = client.get("/rate", headers={"Authorization": "Bearer amy-secreT"})
    assert wrong.status_code == 401 and "amy-secreT" not in wrong.text
    assert wrong.headers["www-authenticate"] == "Bearer"
    weak = client.get("/rate", headers={"Authorization": "Bearer rex-secret"})
    assert weak.status_code == 403 and "rex-secret" not in weak.text and "lacks the 'review' role" in weak.text


def test_without_tokens_the_api_stays_open_and_the_header_names_the_reviewer():
    client = _client([])
    assert client.get("/rate", headers={"X-Shadow-Reviewer": "bob"}).json() == {
        "name": "bob", "roles": ["admin"], "authenticated": False}
    assert client.get("/rate").json()["name"] == "anonymous"


def test_tokens_never_print():
    assert "amy-secret" not in repr(Settings(api_tokens=TOKENS)) and "amy-secret" not in str(TOKENS)
