"""Migrations that add a view also aggregate the rows already scored, once each (a real chDB engine).

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
    from schemas.clickhouse import connect, migrate
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
