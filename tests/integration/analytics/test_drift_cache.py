"""A repeated drift query reuses closed windows and recomputes what late rows touched, nothing stale."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from analytics.drift_cache import DriftCache
from analytics.scope import Scope
from analytics.windows import DriftQuery, drift
from tests.integration.analytics.synthetic import START, insert, make_records


def _figures(rows):
    return [(r.challenger, r.route, r.window_start, r.rows, r.ok, round(r.mean_similarity or 0, 9)) for r in rows]


@pytest.mark.parametrize("minutes, step, by", [(60, None, []), (60, 15, ["route"])])
def test_cache_equals_a_fresh_query_through_late_rows(clickhouse, minutes, step, by):
    app = f"cache-{uuid.uuid4().hex[:8]}"
    insert(clickhouse, make_records(app, "cheap", 900, seed=11, hours=12))
    query = DriftQuery(scope=Scope(app=app), minutes=minutes, step_minutes=step, by=by)
    cache = DriftCache(visibility_margin=timedelta(0))  # our inserts are complete before each run

    first = cache.run(clickhouse, query)
    assert cache.recomputed_from is None and _figures(first) == _figures(drift(clickhouse, query))
    again = cache.run(clickhouse, query)
    # Every window of the data ended long ago: the second run recomputes none of them.
    assert cache.recomputed_from is not None and cache.recomputed_from > START + timedelta(hours=12)
    assert _figures(again) == _figures(first)

    # Rows arriving late into hour 5: that window (and sliding windows covering it) are recomputed.
    late = [r.model_copy(update={"event_id": f"late-{r.event_id}"})
            for r in make_records(app, "cheap", 30, seed=12, start=START + timedelta(hours=5, minutes=20), hours=0.5)]
    insert(clickhouse, late)
    after = cache.run(clickhouse, query)
    assert cache.recomputed_from <= START + timedelta(hours=5)
    assert _figures(after) == _figures(drift(clickhouse, query)) != _figures(first)
    assert sum(r.rows for r in after) == sum(r.rows for r in first) + 30 * (minutes // (step or minutes))
