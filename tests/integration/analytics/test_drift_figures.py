"""Closed buckets come from finalized figures, late rows from states: the answer stays the exact one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from analytics.drift_figures import FIGURES_TABLE, refresh_drift_figures
from analytics.scope import Scope
from analytics.windows import DriftQuery, drift, drift_columns
from schemas.errors import InvalidRequestError
from stream_agents.sink import SCORE_COLUMNS, records_to_columns
from tests.integration.analytics.synthetic import insert, make_records

# Hours no other test writes to: a row inserted into an hour (by any app) makes it dirty for a while.
START = datetime(2025, 6, 1, tzinfo=UTC)


def _insert_settled(client, records) -> None:
    """Rows that arrived long before the refresh (a refresh treats the last minute's inserts as unseen).
    Event ids are made unique to the app: shadow_scores deduplicates by (challenger, version, event id)
    and other tests' synthetic ids, inserted later, would replace these."""
    records = [r.model_copy(update={"event_id": f"{r.app}-{r.event_id}"}) for r in records]
    long_ago = datetime.now(UTC) - timedelta(minutes=30)
    client.insert("shadow_scores", [*records_to_columns(records), [long_ago] * len(records)],
                  column_names=[*SCORE_COLUMNS, "inserted_at"], column_oriented=True)


def _key(rows):
    return [(r.challenger, r.route, r.window_start, r.rows, r.ok, r.errors, r.flips) for r in rows]


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _start(row) -> datetime:
    return _utc(row.window_start)


def test_closed_buckets_are_read_from_figures_and_late_rows_make_their_hour_live_again(clickhouse):
    app = f"figures-{uuid.uuid4().hex[:8]}"
    _insert_settled(clickhouse, make_records(app, "cheap", 600, seed=21, hours=6, start=START)
                    + make_records(app, "dear", 600, seed=22, hours=6, shift=-0.1, start=START))
    refresh_drift_figures(clickhouse)
    # Merged to one part per partition after a refresh: FINAL then has nothing to merge on reads.
    parts = clickhouse.query("SELECT max(c) FROM (SELECT partition, count() AS c FROM system.parts WHERE active "
                             f"AND table = '{FIGURES_TABLE}' GROUP BY partition)").result_rows[0][0]
    assert parts == 1
    # Hour windows start every 5 minutes (12 phases), 5-minute windows on their own grid (phase 0).
    stored = dict(clickhouse.query(f"SELECT bucket_minutes, groupUniqArray(phase) FROM {FIGURES_TABLE} "
                                   "WHERE app = {a:String} GROUP BY bucket_minutes", parameters={"a": app}).result_rows)
    assert {minutes: sorted(phases) for minutes, phases in stored.items()} == {5: [0], 60: list(range(0, 60, 5))}

    for minutes, step, by in ((60, None, []), (5, None, []), (60, None, ["route"]), (60, 15, []), (60, 30, ["route"]),
                             (60, 10, []), (60, 20, ["route"])):
        query = DriftQuery(scope=Scope(app=app, scorer_version="v1"), minutes=minutes, step_minutes=step, by=by)
        from_figures = drift(clickhouse, query, refresh=False)
        exact = drift(clickhouse, query.model_copy(update={"source": "exact"}))
        # Without a scorer version the figures do not apply: the same states, merged at query time.
        merged = drift(clickhouse, query.model_copy(update={"scope": Scope(app=app)}), refresh=False)
        assert _key(from_figures) == _key(exact) == _key(merged) and len(exact) >= 2 * 6
        for a, b, c in zip(from_figures, exact, merged):
            assert abs(a.mean_similarity - b.mean_similarity) < 1e-9
            assert abs(a.sd_similarity - b.sd_similarity) < 1e-9
            assert abs(a.cost_delta_usd - b.cost_delta_usd) < 1e-9
            # t-digest quantiles: the stored ones are the merged ones (a sliding query merges 5-minute
            # states; an hour starting on the hour is stored from its 1-hour state, as tumbling merges it)
            if step is None or _start(a).minute:
                assert (a.p05_similarity, a.p95_similarity, a.p99_latency_delta_ms, a.p95_latency_increase) == \
                    pytest.approx((c.p05_similarity, c.p95_similarity, c.p99_latency_delta_ms,
                                   c.p95_latency_increase), rel=1e-6)
            else:
                assert a.p95_similarity == pytest.approx(c.p95_similarity, abs=0.02)

    # A query ending inside an hour: the windows it cuts are partial, merged from the states as without figures.
    cut = Scope(app=app, scorer_version="v1", until=START + timedelta(hours=2, minutes=5))
    for step in (None, 15):
        query = DriftQuery(scope=cut, minutes=60, step_minutes=step)
        rows = drift(clickhouse, query, refresh=False)
        assert _key(rows) == _key(drift(clickhouse, query.model_copy(update={"source": "exact"})))
        assert max(_start(r) for r in rows) == START + timedelta(hours=2)  # the cut hour is there, partial

    # Proof that the closed windows are read from the stored figures: a doctored figure shows through.
    hourly = DriftQuery(scope=Scope(app=app, scorer_version="v1"), minutes=60)
    sliding = hourly.model_copy(update={"step_minutes": 15})
    before, before_sliding = drift(clickhouse, hourly, refresh=False), drift(clickhouse, sliding, refresh=False)
    quarter_past = START + timedelta(hours=1, minutes=15)
    for at in (START, quarter_past):
        clickhouse.command(
            f"INSERT INTO {FIGURES_TABLE} SELECT * REPLACE (rows + 1000000 AS rows, now64(3, 'UTC') AS computed_at) "
            f"FROM {FIGURES_TABLE} FINAL WHERE app = {{a:String}} AND bucket_minutes = 60 AND route = '*' "
            "AND bucket = {at:DateTime('UTC')}", parameters={"a": app, "at": at})
    doctored = drift(clickhouse, hourly, refresh=False)
    first_hour = [r.rows for r in before if _start(r) == START]
    assert len(first_hour) == 2 and [r.rows for r in doctored if _start(r) == START] == \
        [rows + 1_000_000 for rows in first_hour]
    doctored_sliding = {(r.challenger, _start(r)): r.rows for r in drift(clickhouse, sliding, refresh=False)}
    assert all(doctored_sliding[(r.challenger, _start(r))] == r.rows + 1_000_000 * (_start(r) in (START, quarter_past))
               for r in before_sliding)

    # Rows landing late in that hour make it dirty: read from the states again, late rows included.
    late = [r.model_copy(update={"event_id": f"{app}-late-{r.event_id}"})
            for r in make_records(app, "cheap", 20, seed=23, start=START + timedelta(minutes=20), hours=0.2)]
    insert(clickhouse, late)
    after = {(r.challenger, _start(r)): r.rows for r in drift(clickhouse, hourly, refresh=False)}
    first = {(r.challenger, _start(r)): r.rows for r in before}
    assert after[("cheap", START)] == first[("cheap", START)] + 20
    assert after[("dear", START)] == first[("dear", START)]
    assert all(after[k] == first[k] for k in first if k[1] != START)
    # Sliding: every window overlapping that hour comes from the states again (the doctored quarter
    # past one too, as it overlaps it), the others still from the figures.
    after_sliding = {(r.challenger, _start(r)): r.rows for r in drift(clickhouse, sliding, refresh=False)}
    for r in before_sliding:
        overlaps = START - timedelta(hours=1) < _start(r) < START + timedelta(hours=1)
        late_rows = sum(_start(r) <= _utc(x.ts_request) < _start(r) + timedelta(hours=1) for x in late) \
            if r.challenger == "cheap" else 0
        doctored_rows = 1_000_000 if _start(r) == quarter_past else 0
        assert after_sliding[(r.challenger, _start(r))] == r.rows + late_rows + (0 if overlaps else doctored_rows)


def test_unscoped_and_tenant_queries_use_the_states(clickhouse):
    """Figures are per app and scorer version, unsplit or by route: other queries merge states, same answer."""
    app = f"figures-{uuid.uuid4().hex[:8]}"
    _insert_settled(clickhouse, make_records(app, "cheap", 300, seed=31, hours=3, start=START + timedelta(days=1)))
    refresh_drift_figures(clickhouse)
    by_tenant = DriftQuery(scope=Scope(app=app, scorer_version="v1"), minutes=60, by=["tenant"])
    exact = drift(clickhouse, by_tenant.model_copy(update={"source": "exact"}))
    assert _key(drift(clickhouse, by_tenant, refresh=False)) == _key(exact)
    any_version = DriftQuery(scope=Scope(app=app), minutes=60)
    assert _key(drift(clickhouse, any_version, refresh=False)) == \
        _key(drift(clickhouse, any_version.model_copy(update={"source": "exact"})))


def test_drift_columns_are_drift_rows_field_by_field(clickhouse):
    """The columnar read (alerts) gives the same windows and figures as the rows, for the fields asked."""
    app = f"figures-{uuid.uuid4().hex[:8]}"
    records = make_records(app, "cheap", 300, seed=41, hours=3, start=START + timedelta(days=2)) + \
        make_records(app, "dear", 300, seed=42, hours=3, shift=-0.1, start=START + timedelta(days=2))
    insert(clickhouse, [r.model_copy(update={"event_id": f"{app}-{r.event_id}"}) for r in records])
    fields = ["challenger", "window_start", "mean_delta_s", "p95_latency_delta_ms", "refusal_rate", "error_rate"]
    for query in (DriftQuery(scope=Scope(app=app, scorer_version="v1"), minutes=5),  # the figures path
                  DriftQuery(scope=Scope(app=app), minutes=15, by=["route"])):  # states only
        rows = drift(clickhouse, query, refresh=False)
        columns = drift_columns(clickhouse, query, fields, refresh=False)
        assert list(columns) == fields and len(rows) >= 2 * 3
        assert {name: list(values) for name, values in columns.items()} == \
            {name: [getattr(r, name) for r in rows] for name in fields}
    nobody = query.model_copy(update={"challenger": "nobody"})
    assert drift_columns(clickhouse, nobody, fields, refresh=False) == {name: [] for name in fields}
    with pytest.raises(InvalidRequestError, match="no drift figure named p42"):
        drift_columns(clickhouse, query, ["challenger", "p42"])
