"""Migrations over data already there: views aggregate the rows already scored, once each; derived
tables rebuilt by a migration are refilled (a real chDB engine).

Runs in a child process with its own chDB directory: chDB allows one data directory per process,
and the session stack's engine must not see these tables dropped and rebuilt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import json, sys
    from schemas.clickhouse import migrate
    from infra.clickhouse import connect
    from tests.integration.analytics.synthetic import insert, make_records

    client = connect("chdb://" + sys.argv[1])
    migrate(client)
    records = make_records("backfill", "cheap", 600, seed=5, hours=3)
    insert(client, records)
    insert(client, records[:100])  # at-least-once: a batch written twice
    # Rebuild 012 as if it arrived after these rows were scored: its INSERT ... FROM shadow_scores FINAL runs.
    client.command("DROP VIEW shadow_scores_rollup_mv")
    client.command("DROP TABLE shadow_scores_rollup")
    client.command("ALTER TABLE shadow_schema_migrations DELETE WHERE version = 12 SETTINGS mutations_sync = 1")
    applied = migrate(client)
    splits = {"all": "route = '*' AND tenant = '*'", "route": "route != '*' AND tenant = '*'",
              "route+tenant": "tenant != '*'"}
    counts = {f"{tier}/{name}": client.command(
        "SELECT countMerge(rows) FROM shadow_scores_rollup WHERE app = 'backfill' "
        f"AND bucket_minutes = {{t:UInt16}} AND {where}", parameters={"t": tier})
        for tier in (5, 60) for name, where in splits.items()}
    insert(client, records[:10])  # after the backfill the view counts new inserts again
    after = client.command("SELECT countMerge(rows) FROM shadow_scores_rollup WHERE app = 'backfill' "
                           "AND bucket_minutes = 60 AND route = '*'")
    print(json.dumps({"applied": applied, "counts": counts, "after": after}))
""")


def test_rollup_backfill_counts_existing_rows_once(tmp_path):
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "chdb")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["applied"] == ["012_scores_rollup.sql"]
    # Read from shadow_scores FINAL: the batch written twice counts once, in every tier and split.
    assert result["counts"] == {f"{tier}/{split}": 600 for tier in (5, 60) for split in ("all", "route", "route+tenant")}
    assert result["after"] == 610


_PHASE_SCRIPT = textwrap.dedent("""
    import json, sys
    from analytics.drift_figures import refresh_drift_figures
    from analytics.scope import Scope
    from analytics.watermarks import DRIFT_FIGURES_MARK, read_marks
    from analytics.windows import DriftQuery, drift
    from schemas.clickhouse import migrate, migrations
    from infra.clickhouse import connect
    from tests.integration.analytics.synthetic import insert, make_records

    client = connect("chdb://" + sys.argv[1])
    client.command("CREATE TABLE shadow_schema_migrations (version UInt32, name String, "
                   "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
    for version, name, statements in migrations():  # a deployment without 015, figures refreshed
        if version != 15:
            for statement in statements:
                client.command(statement)
            client.insert("shadow_schema_migrations", [[version, name]], column_names=["version", "name"])
    insert(client, make_records("phase", "cheap", 600, seed=7, hours=3))
    refresh_drift_figures(client)
    before = client.command("SELECT count() FROM shadow_drift_figures")
    applied = migrate(client)
    key = client.command("SELECT sorting_key FROM system.tables WHERE name = 'shadow_drift_figures'")
    emptied = client.command("SELECT count() FROM shadow_drift_figures")
    watermark = read_marks(client, DRIFT_FIGURES_MARK).watermark.isoformat()
    refresh_drift_figures(client)
    phases = client.query("SELECT DISTINCT bucket_minutes, phase FROM shadow_drift_figures ORDER BY ALL").result_rows
    query = DriftQuery(scope=Scope(app="phase", scorer_version="v1"), minutes=60, step_minutes=10)
    same = [(r.window_start, r.rows) for r in drift(client, query, refresh=False)] == \\
        [(r.window_start, r.rows) for r in drift(client, query.model_copy(update={"source": "exact"}))]
    print(json.dumps({"applied": applied, "before": before, "key": key, "emptied": emptied,
                      "watermark": watermark, "phases": phases, "same": same}))
""")


def test_drift_figures_rebuilt_with_a_phase_key_and_refilled(tmp_path):
    """015 replaces the figures table (derived data) and sends its watermark back, so the next refresh
    refills it: every phase of the 5-minute grid for 1-hour windows, and the same answers as the exact path."""
    done = subprocess.run([sys.executable, "-c", _PHASE_SCRIPT, str(tmp_path / "chdb")], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["applied"] == ["015_drift_figures_phase.sql"]
    assert int(result["before"]) > 0 and int(result["emptied"]) == 0
    assert result["key"] == "app, scorer_version, bucket_minutes, route, tenant, phase, bucket, challenger"
    assert result["watermark"] == "1970-01-01T00:00:00+00:00"
    assert result["phases"] == [[5, 0]] + [[60, phase] for phase in range(0, 60, 5)]
    assert result["same"] is True
