"""A scope's WHERE fragment holds only the bounds that are set (ClickHouse plans every term)."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.scope import Scope

SINCE, UNTIL = datetime(2026, 3, 2, 5, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)


def test_an_empty_scope_filters_nothing():
    assert Scope().where() == "true"
    assert Scope().where("bucket") == "true"


def test_only_the_bounds_that_are_set():
    where = Scope(app="chat", since=SINCE).where("minute")
    assert where == "app = {app:String} AND minute >= {since:DateTime64(3, 'UTC')}"
    assert "scorer_version" not in where and "until" not in where
    where = Scope(scorer_version="v2", until=UNTIL).where()
    assert where == "scorer_version = {scorer_version:String} AND ts_request < {until:DateTime64(3, 'UTC')}"


def test_no_time_column_leaves_the_time_bounds_out():
    assert Scope(app="chat", scorer_version="v1", since=SINCE, until=UNTIL).where(None) == \
        "app = {app:String} AND scorer_version = {scorer_version:String}"


def test_params_name_every_placeholder_the_fragment_may_use():
    scope = Scope(app="chat", scorer_version="v1", since=SINCE, until=UNTIL)
    where, params = scope.where(), scope.params()
    for name in ("app", "scorer_version", "since", "until"):
        assert f"{{{name}:" in where and name in params


class _Latest:
    """Stands in for the client only where one_scorer_version asks it for the latest version."""

    def __init__(self, version: str) -> None:
        self.version, self.asked = version, []

    def query(self, sql, parameters):  # noqa: ANN001
        self.asked.append(parameters["app"])
        return type("R", (), {"result_rows": [(self.version,)]})()


def test_one_scorer_version_defaults_to_the_latest_and_refuses_a_mix():
    import pytest

    from analytics.scope import one_scorer_version
    from schemas.errors import InvalidRequestError

    client = _Latest("v2")
    assert one_scorer_version(client, "shop") == "v2" and client.asked == ["shop"]
    assert one_scorer_version(client, "shop", []) == "v2"
    assert one_scorer_version(client, "shop", "v1") == "v1" and one_scorer_version(client, "shop", ["v1", "v1"]) == "v1"
    for several in ("v1,v2", ["v1", "v2"]):
        with pytest.raises(InvalidRequestError, match="one scorer version at a time: asked for v1, v2"):
            one_scorer_version(client, "shop", several)
