"""The squashed schema on a real chDB engine: a new database gets every file once, a 0.1 database is
named and refused instead of half-migrated.

Each case runs in a child process with its own chDB directory: chDB allows one data directory per
process, and the session stack's engine must not see these databases.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import json, sys
    from infra.clickhouse import connect
    from schemas.clickhouse import migrate
    from schemas.errors import ConfigError
    from tests.integration.analytics.synthetic import insert, make_records

    client = connect("chdb://" + sys.argv[1])
    if sys.argv[2] == "0.1":  # what a 0.1 database records
        client.command("CREATE TABLE shadow_schema_migrations (version UInt32, name String, "
                       "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version")
        client.insert("shadow_schema_migrations", [[1, "001_shadow_scores.sql"], [18, "018_evidence_labels.sql"]],
                      column_names=["version", "name"])
        try:
            migrate(client)
        except ConfigError as exc:
            print(json.dumps({"refused": str(exc)}))
        sys.exit(0)
    first, again = migrate(client), migrate(client)
    records = make_records("fresh", "cheap", 300, seed=5, hours=2)
    insert(client, records)
    insert(client, records[:50])  # at-least-once: a batch written twice
    tiers = dict(client.query("SELECT bucket_minutes, countMerge(rows) FROM shadow_scores_rollup WHERE app = 'fresh' "
                              "AND route = '*' AND tenant = '*' GROUP BY bucket_minutes").result_rows)
    exact = client.command("SELECT count() FROM shadow_scores FINAL WHERE app = 'fresh'")
    print(json.dumps({"first": first, "again": again, "tiers": tiers, "exact": exact}))
""")


def _run(tmp_path, kind: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "chdb"), kind], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_new_database_gets_every_file_once_and_the_rollup_fills_every_tier(tmp_path):
    result = _run(tmp_path, "new")
    assert result["first"] == ["001_scores.sql", "002_rollup.sql", "003_finalized.sql", "004_records.sql",
                               "121_answers.sql", "122_feedback_review.sql"]
    assert result["again"] == []
    # The rollup is at-least-once (the batch written twice counts twice), the exact path once.
    assert result["tiers"] == {"1": 350, "5": 350, "60": 350} and result["exact"] == 300


def test_a_database_of_0_1_is_refused_with_what_to_do(tmp_path):
    message = _run(tmp_path, "0.1")["refused"]
    assert "0.1" in message and "001_shadow_scores.sql" in message and "SHADOW_CLICKHOUSE_URL" in message
