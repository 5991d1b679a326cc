"""The open hour's closed 5-minute part is rolled up too: the same evidence as a full read, and late rows
into that part send it back to the raw path (a real chDB engine).

Runs in a child process with its own chDB directory: the open hour's rows depend on the clock, and
another test's rows landing in the same minutes would make them dirty, as they should.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import json, sys
    from datetime import timedelta
    from analytics.evidence import EVIDENCE_TABLE, gather_evidence, refresh_evidence
    from analytics.scope import Scope
    from analytics.watermarks import (EVIDENCE_MARK, EVIDENCE_OPEN_MARK, SETTLE, five_minute_floor, hour_floor,
                                      read_marks, server_now)
    from schemas.clickhouse import migrate
    from infra.clickhouse import connect
    from stream_agents.sink import SCORE_COLUMNS, records_to_columns
    from tests.integration.analytics.synthetic import insert, make_records

    client = connect("chdb://" + sys.argv[1])
    migrate(client)
    now = server_now(client)
    # The open hour has a closed 5-minute part from its minute 10 on (5 minutes to settle); before that,
    # refresh as if 5 minutes later (same hour), so the test does not depend on the minute it runs at.
    at = now if five_minute_floor(now - SETTLE) > hour_floor(now - SETTLE) else now + timedelta(minutes=5)
    open_hour = hour_floor(at - SETTLE)
    start = open_hour - timedelta(hours=3)
    hours = (now - start).total_seconds() / 3600  # closed hours, the open hour, the last minutes
    records = make_records("open", "cheap", 1200, seed=11, shift=-0.02, error_rate=0.02, hours=hours, start=start) \\
        + make_records("open", "control", 1200, seed=12, control=True, hours=hours, start=start)
    settled = now - timedelta(minutes=30)  # inserted long before the refresh: nothing counts as late
    client.insert("shadow_scores", [*records_to_columns(records), [settled] * len(records)],
                  column_names=[*SCORE_COLUMNS, "inserted_at"], column_oriented=True)
    refresh_evidence(client, now=at)
    marks = read_marks(client, EVIDENCE_MARK, EVIDENCE_OPEN_MARK)
    scope = Scope(app="open", scorer_version="v1")
    fields = {"rows", "ok", "errors", "paired_n", "first_ts", "last_ts", "paired_mean", "paired_sd"}

    def evidence(**kwargs):
        found = gather_evidence(client, scope, 0.85, with_outcomes=False, refresh=False, **kwargs)
        return found[0].model_dump(mode="json", include=fields)

    rolled, exact = evidence(), evidence(rollup=False)
    open_rows = client.command(f"SELECT count() FROM {EVIDENCE_TABLE} WHERE app = 'open' AND span_hours = 0")
    # Proof that the open hour's rows are read: a doctored one shows through.
    client.command(f"INSERT INTO {EVIDENCE_TABLE} SELECT * REPLACE (rows + 1000 AS rows, now64(3, 'UTC') AS "
                   f"computed_at) FROM {EVIDENCE_TABLE} FINAL WHERE app = 'open' AND span_hours = 0")
    doctored = evidence()
    late = [r.model_copy(update={"event_id": "late-" + r.event_id}) for r in make_records(
        "open", "cheap", 10, seed=13, hours=0.05, start=open_hour + timedelta(minutes=1))]
    insert(client, late)  # inserted now, into the part the refresh rolled up
    late_marks = read_marks(client, EVIDENCE_MARK, EVIDENCE_OPEN_MARK)
    print(json.dumps({"watermark": marks.watermark.isoformat(), "open_hour": open_hour.isoformat(),
                      "open_until": marks.open_until and marks.open_until.isoformat(),
                      "expected_until": five_minute_floor(at - SETTLE).isoformat(), "open_rows": open_rows,
                      "rolled": rolled, "exact": exact, "doctored": doctored,
                      "late_open_until": late_marks.open_until and late_marks.open_until.isoformat(),
                      "late_rolled": evidence(), "late_exact": evidence(rollup=False)}))
""")


def _close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        abs(a[k] - b[k]) < 1e-9 if isinstance(a[k], float) else a[k] == b[k] for k in a)


def test_open_hour_part_is_rolled_up_and_late_rows_send_it_back_to_the_raw_path(tmp_path):
    done = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "chdb")], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["watermark"] == result["open_hour"]
    assert result["open_until"] == result["expected_until"] > result["open_hour"]
    assert int(result["open_rows"]) == 2  # the challenger and the control, for the open hour
    assert _close(result["rolled"], result["exact"])
    assert result["doctored"]["rows"] == result["rolled"]["rows"] + 1000
    # A row landing late in the rolled-up part: that part is read raw again, the late row included.
    assert result["late_open_until"] is None
    assert _close(result["late_rolled"], result["late_exact"])
    assert result["late_rolled"]["rows"] == result["rolled"]["rows"] + 10
