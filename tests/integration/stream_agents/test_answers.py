"""The texts reach ClickHouse: request and both answers, as masked at the gateway, joined to the scores."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from schemas.events import PairAnswers, ScoredRecord, ShadowStatus
from shadow_optic.stack.processes import free_port, wait_until
from stream_agents.sink import ScoreSink
from tests.integration.conftest import challenger, http_json, wait_for_rows

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[3] / "README.md"


def _readme_sql() -> str:
    """The README's 'most divergent pairs' query, run as printed there."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- divergent-pairs-sql -->\s*```sql\n(.*?)```", text, re.S)
    assert match, "README lost its divergent-pairs SQL example"
    return match.group(1)


def test_the_request_and_both_answers_are_stored_masked_and_the_readme_query_lists_the_most_divergent(
        pipeline_settings, processes, clickhouse, tmp_path):
    pairs = [{"prompt": f"Call me at +1 415 555 01{i:02d} about order {i}.",
              "production_response": f"Order {i} ships on Monday.",
              "challenger_response": f"Order {i} ships on Monday." if i % 2 else f"I cannot say anything about {i}."}
             for i in range(6)]
    answers = tmp_path / "pairs.jsonl"
    answers.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    production_url, _ = processes.sim_model(pipeline_settings, "prod", "--answers", str(answers),
                                            "--field", "production_response")
    challenger_url, _ = processes.sim_model(pipeline_settings, "cheap", "--answers", str(answers),
                                            "--field", "challenger_response")
    gateway_port = free_port()
    settings = pipeline_settings.model_copy(update={
        "production_url": production_url, "gateway_port": gateway_port,
        "challengers": [challenger("cheap", challenger_url)]})
    worker = processes.start("worker", settings, "worker")
    gateway = processes.start("gateway", settings, "gateway")
    base = f"http://127.0.0.1:{gateway_port}"
    wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, "gateway", gateway)
    with httpx.Client(timeout=30) as client:
        for pair in pairs:
            response = client.post(f"{base}/v1/chat/completions",
                                   json={"model": "prod", "messages": [{"role": "user", "content": pair["prompt"]}]})
            assert response.status_code == 200
    app = settings.app_name
    assert wait_for_rows(clickhouse, app, len(pairs), process=worker) == len(pairs)
    wait_until(lambda: clickhouse.command("SELECT count() FROM shadow_answers FINAL WHERE app = {app:String}",
                                          parameters={"app": app}) == len(pairs), 30, "answers rows", worker)

    stored = clickhouse.query("SELECT request, production_answer, challenger_answer, expires_at - ts_request "
                              "FROM shadow_answers FINAL WHERE app = {app:String}", parameters={"app": app}).result_rows
    for request, production, challenger_answer, ttl in stored:
        assert "555" not in request and "[PHONE]" in request  # masked at the gateway, stored as masked
        assert request.startswith("### user\n")
        assert production.startswith("Order ") and challenger_answer
        assert 30 * 86400 - 1 <= ttl <= 30 * 86400  # SHADOW_ANSWERS_TTL_DAYS (30), to the second

    sql = _readme_sql().replace("WHERE s.app = 'default'", "WHERE s.app = {app:String}")
    listed = clickhouse.query(sql, parameters={"app": app}).named_results()
    listed = list(listed)
    assert len(listed) == len(pairs)
    # Most divergent first: the three refusals, then the three identical answers (similarity 1).
    assert [r["challenger_answer"].startswith("I cannot") for r in listed] == [True] * 3 + [False] * 3
    assert [r["similarity"] for r in listed] == sorted(r["similarity"] for r in listed)
    assert all(r["production_answer"].startswith("Order ") and "[PHONE]" in r["request"] for r in listed)


def _record(event_id: str, app: str, ts: datetime) -> ScoredRecord:
    return ScoredRecord(
        event_id=event_id, challenger="c", challenger_model="m", is_control=False, app=app, route="/r", tenant="",
        production_model="p", production_model_rev="1", request_hash="h", ts_request=ts, ts_scored=ts,
        status=ShadowStatus.OK, production_latency_ms=1.0, scorer_version="v",
        answers=PairAnswers(request="q " * 2000, production_answer="a " * 2000, challenger_answer="b " * 2000))


async def test_answers_expire_after_their_ttl_and_are_compressed(stack_settings, clickhouse):
    from infra.clickhouse import connect

    app = f"ttl-{datetime.now(UTC).timestamp():.0f}"
    now = datetime.now(UTC)
    sink = ScoreSink(lambda: connect(stack_settings.clickhouse_url), answers_ttl_days=2)
    await sink.write([_record("old", app, now - timedelta(days=3)), _record("new", app, now)])
    sink.close()
    def stored() -> list[str]:
        return sorted(r[0] for r in clickhouse.query("SELECT event_id FROM shadow_answers WHERE app = {app:String}",
                                                     parameters={"app": app}).result_rows)
    # A row already past its TTL is dropped as its part is written (and any later at a merge).
    clickhouse.command("OPTIMIZE TABLE shadow_answers FINAL")
    assert stored() == ["new"]
    codecs = clickhouse.query("SELECT name, compression_codec FROM system.columns WHERE table = 'shadow_answers' "
                              "AND name IN ('request', 'production_answer', 'challenger_answer')").result_rows
    assert {c for _n, c in codecs} == {"CODEC(ZSTD(3))"}
