"""Bearer tokens for the control API, with three roles: read < review < admin.

`require_role(role)` is a FastAPI dependency: it answers 401 (no or unknown token) or 403 (a token whose
role is too low) in the API's ErrorBody format, and returns the `Principal` that acted, whose name goes
into the history with every admin action. Tokens are compared in constant time (hmac.compare_digest),
each one, so the time taken does not tell how much of a guess was right or which entry matched.

Without any token configured (SHADOW_API_TOKENS unset) every call is allowed as the local operator:
`shadow-optic api` then refuses to listen beyond loopback (shadow_optic/commands/api.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from schemas.settings import ApiToken

__all__ = ["Role", "Principal", "require_role", "SCHEME_NAME", "ROLE_EXTENSION", "LOCAL_OPERATOR"]

Role = Literal["read", "review", "admin"]
_RANK: dict[str, int] = {"read": 0, "review": 1, "admin": 2}
SCHEME_NAME = "BearerToken"
ROLE_EXTENSION = "x-required-role"  # on each protected operation of the OpenAPI document
LOCAL_OPERATOR = "local-operator"  # who acted when no tokens are configured (loopback only)

_bearer = HTTPBearer(auto_error=False, scheme_name=SCHEME_NAME,
                     description="`Authorization: Bearer <token>` from SHADOW_API_TOKENS; roles read < review < "
                                 "admin, each operation's minimum in `x-required-role`")


class Principal(BaseModel):
    """Who made a call: a token's name and role, or the local operator when the API has no tokens."""

    name: str
    role: Role
    authenticated: bool


def _tokens(request: Request) -> list[ApiToken]:
    return getattr(request.app.state, "api_tokens", [])


def _match(tokens: list[ApiToken], presented: str) -> ApiToken | None:
    presented_bytes = presented.encode()
    found = None
    for token in tokens:  # every entry compared, whatever matched before
        if hmac.compare_digest(token.token.get_secret_value().encode(), presented_bytes):
            found = token
    return found


@lru_cache(maxsize=None)
def require_role(role: Role) -> Callable[..., Awaitable[Principal]]:
    """The dependency for operations that need at least `role`; one object per role (FastAPI reuses it)."""
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}: use read, review or admin")

    async def authorize(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                                  Depends(_bearer)]) -> Principal:
        tokens = _tokens(request)
        if not tokens:
            return Principal(name=LOCAL_OPERATOR, role="admin", authenticated=False)
        if credentials is None:
            raise HTTPException(401, "this API needs `Authorization: Bearer <token>` (SHADOW_API_TOKENS)",
                                headers={"WWW-Authenticate": "Bearer"})
        token = _match(tokens, credentials.credentials)
        if token is None:
            raise HTTPException(401, "unknown token: use one of SHADOW_API_TOKENS",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if _RANK[token.role] < _RANK[role]:
            raise HTTPException(403, f"token {token.name!r} has role {token.role}; this operation needs {role}")
        return Principal(name=token.name, role=token.role, authenticated=True)

    authorize.required_role = role  # type: ignore[attr-defined]  # read by create_api for the OpenAPI document
    return authorize


def actor(principal: Principal, claimed: str) -> str:
    """Who is recorded in the history: the token's name; the body's `actor` only when the API has no tokens."""
    return principal.name if principal.authenticated else claimed


__all__ += ["actor"]
