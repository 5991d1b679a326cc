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
