"""Who may call the control API: bearer tokens from SHADOW_API_TOKENS, each with a name and roles.

Roles are ordered read < review < admin: a role includes those below it. Tokens are compared in
constant time. With no token configured the API stays open as before (it listens on loopback by
default) and a caller is named by the `X-Shadow-Reviewer` header, so the review page still records
who rated. A token never appears in a log line or an error.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import Header, HTTPException, Request
from pydantic import BaseModel

__all__ = ["Caller", "Role", "require_role"]

Role = Literal["read", "review", "admin"]
_RANK = {"read": 0, "review": 1, "admin": 2}


class Caller(BaseModel):
    name: str
    roles: list[str]
    authenticated: bool


def _match(settings, presented: str) -> Caller | None:
    found = None
    for entry in settings.api_tokens:
        # Every token is compared (no early exit): the time taken does not tell which one matched.
        if hmac.compare_digest(entry.token.get_secret_value().encode(), presented.encode()) and found is None:
            found = Caller(name=entry.name, roles=list(entry.roles), authenticated=True)
    return found


def require_role(role: Role) -> Callable[..., Caller]:
    """A FastAPI dependency: the caller, if their token carries `role` (or a higher one); else 401/403."""

    def dependency(request: Request, authorization: Annotated[str | None, Header()] = None,
                   x_shadow_reviewer: Annotated[str | None, Header()] = None) -> Caller:
        settings = request.app.state.api.settings
        if not settings.api_tokens:
            name = (x_shadow_reviewer or "").strip()[:100] or "anonymous"
            return Caller(name=name, roles=["admin"], authenticated=False)
        scheme, _, token = (authorization or "").partition(" ")
        caller = _match(settings, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if caller is None:
            raise HTTPException(401, "a bearer token from SHADOW_API_TOKENS is required (Authorization: Bearer …)",
                                headers={"WWW-Authenticate": "Bearer"})
        if max(_RANK[r] for r in caller.roles) < _RANK[role]:
            raise HTTPException(403, f"{caller.name} lacks the {role!r} role (has {', '.join(caller.roles)})")
        return caller

    return dependency

