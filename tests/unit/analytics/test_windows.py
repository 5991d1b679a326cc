"""Which pre-aggregated tier a drift query reads: the coarsest whose buckets each fall inside one window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.scope import Scope
from analytics.windows import ROLLUP_VIEW, DriftQuery, _view_source


@pytest.mark.parametrize("minutes, step, since, expected", [
    (60, None, None, "bucket_minutes = 60"),
    (1440, 60, datetime(2026, 3, 2, 5, tzinfo=UTC), "bucket_minutes = 60"),
    (60, 15, None, "bucket_minutes = 5"),  # a 15-minute step cuts hours: 5-minute buckets
    (5, None, datetime(2026, 3, 2, 5, 10, tzinfo=UTC), "bucket_minutes = 5"),
    (60, None, datetime(2026, 3, 2, 5, 7, tzinfo=UTC), "bucket_minutes = 1"),  # the scope's edge cuts a 5-minute bucket
    (7, None, None, "bucket_minutes = 1"),
])
def test_tier_choice(minutes, step, since, expected):
    table, column, where = _view_source(DriftQuery(scope=Scope(since=since), minutes=minutes, step_minutes=step),
                                        step or minutes)
    assert table == ROLLUP_VIEW and column == "bucket" and where.startswith(expected)
    assert "route = '*' AND tenant = '*'" in where


def test_each_split_reads_its_own_rows():
    table, _, where = _view_source(DriftQuery(minutes=60, by=["route"]), 60)
    assert table == ROLLUP_VIEW and "route != '*' AND tenant = '*'" in where  # 20 tenants fewer states
    for by in (["tenant"], ["route", "tenant"]):
        assert "tenant != '*'" in _view_source(DriftQuery(minutes=60, by=by), 60)[2]
    _, _, where = _view_source(DriftQuery(minutes=3, by=["route"]), 3)
    assert where.startswith("bucket_minutes = 1 AND route != '*' AND tenant = '*'")  # the 1-minute tier, by route
