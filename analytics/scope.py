"""Which rows a query looks at: app, scorer version, time window. Shared by every analytics query."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from collections.abc import Iterable

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from schemas.clickhouse import SCORES_TABLE
from schemas.errors import InvalidRequestError

__all__ = ["Scope", "nan_to_none", "latest_scorer_version", "one_scorer_version"]


def nan_to_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value or value in (float("inf"), float("-inf")) else value


class Scope(BaseModel):
    app: str = ""  # '' = every app
    scorer_version: str = ""  # '' = every version (resolve with latest_scorer_version for decisions)
    since: datetime | None = None
    until: datetime | None = None

    def where(self, time_column: str | None = "ts_request") -> str:
        """A WHERE fragment with {…} parameters; pair it with `params()`. Only the bounds that are set:
        ClickHouse plans every term of a query before it reads a row, even `'' = ''`.
        `time_column=None` leaves the time bounds out (for tables that are not keyed by request time)."""
        terms = [f"{name} = {{{name}:String}}" for name in ("app", "scorer_version") if getattr(self, name)]
        if time_column is not None:
            if self.since is not None:
                terms.append(f"{time_column} >= {{since:DateTime64(3, 'UTC')}}")
            if self.until is not None:
                terms.append(f"{time_column} < {{until:DateTime64(3, 'UTC')}}")
        return " AND ".join(terms) or "true"

    def params(self) -> dict[str, Any]:
        return {"app": self.app, "scorer_version": self.scorer_version,
                "since": self.since or datetime(1970, 1, 1), "until": self.until or datetime(2200, 1, 1)}


def latest_scorer_version(client: Client, app: str = "") -> str:
    """The scorer version of the most recently scored row: decisions compare rows of one version only."""
    result = client.query(f"SELECT argMax(scorer_version, ts_scored) FROM {SCORES_TABLE} "
                          "WHERE ({app:String} = '' OR app = {app:String})", parameters={"app": app})
    return str(result.result_rows[0][0]) if result.result_rows else ""


def one_scorer_version(client: Client, app: str = "", asked: str | Iterable[str] | None = None) -> str:
    """The one scorer version a comparison reads: the one asked for, else the latest of `app`.

    Similarities of different scorer versions are not comparable (docs/scoring.md), so asking for
    several (a list, or names separated by commas) is an error, never a mix. '' when `app` has no rows.
    """
    names = [asked] if isinstance(asked, str) else list(asked or [])
    wanted = sorted({part.strip() for name in names for part in name.split(",") if part.strip()})
    if len(wanted) > 1:
        raise InvalidRequestError(f"one scorer version at a time: asked for {', '.join(wanted)}; similarities of different "
                          "scorer versions are not comparable. Ask for one (default: the latest), and compare "
                          "versions side by side with one query each")
    return wanted[0] if wanted else latest_scorer_version(client, app)
