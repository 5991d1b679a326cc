"""Reports on the real stack: scores in ClickHouse, both answers read back from shadow.results in Kafka."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from infra.kafka_clients import ensure_topics
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, ShadowResult
from shadow_optic.child_env import settings_env
from shadow_optic.cli import main
from tests.integration.analytics.synthetic import insert, make_records

pytestmark = pytest.mark.integration
N = 40


def _result(record, text: str) -> ShadowResult:
    event = InferenceEvent(
        event_id=record.event_id, app=record.app, route=record.route, ts_request=record.ts_request,
        ts_response=record.ts_request, production_model="prod",
        request=NormalizedRequest(model="prod", messages=[ChatMessage(role="user", content=f"question {record.event_id}")]),
        response=CapturedResponse(status_code=200, text=f"production answer {record.event_id}"),
        latency_ms=record.production_latency_ms, request_hash=record.request_hash)
    return ShadowResult(event=event, challenger=record.challenger, challenger_model=record.challenger,
                        is_control=record.is_control, status=record.status, response_text=text,
                        latency_ms=record.challenger_latency_ms, ts_called=datetime.now(UTC))


@pytest.fixture
def loaded(pipeline_settings, clickhouse, monkeypatch):
    s = pipeline_settings
    start = datetime.now(UTC)  # results are produced now: the rows' time range must cover them
    small = make_records(s.app_name, "small", N, seed=3, hours=0.01, start=start)
    small[5] = small[5].model_copy(update={"similarity": 0.05})
    small[9] = small[9].model_copy(update={"similarity": 0.97, "label_flip": "reject->approve"})
    big = make_records(s.app_name, "big", N, seed=4, shift=0.1, hours=0.01, start=start)
    control = make_records(s.app_name, "control", N, seed=2, control=True, hours=0.01, start=start)
    records = small + big + control
    insert(clickhouse, records)
    ensure_topics(s.kafka_bootstrap, [s.topics.results], 3)
    producer = Producer({"bootstrap.servers": s.kafka_bootstrap})
    unpublished = small[5]  # its result "left the topic": the suite must say so, not drop it silently
    for r in records:
        if r is not unpublished:
            producer.produce(s.topics.results, key=r.event_id.encode(),
                             value=_result(r, f"{r.challenger} answer {r.event_id}").model_dump_json().encode())
    producer.produce(s.topics.results, key=b"not-scored", value=b"{not json")  # ignored: no such scored pair
    assert producer.flush(30) == 0
    for name, value in settings_env(s, base={}).items():
        monkeypatch.setenv(name, value)
    return s, small, big


def test_regression_suite_has_flips_first_both_answers_and_missing(loaded, tmp_path, capsys):
    _, small, _ = loaded
    out = tmp_path / "regressions.json"
    assert main(["report", "regressions", str(out), "--per-challenger", "4"]) == 0
    suite = json.loads(out.read_text())
    by = {}
    for case in suite["cases"]:
        by.setdefault(case["challenger"], []).append(case)
    assert set(by) == {"small", "big"}  # the control is never a regression case
    assert by["small"][0]["event_id"] == small[9].event_id  # a flip outranks any similarity
    assert "label flip reject->approve" in by["small"][0]["reasons"]
    assert suite["missing"] == [f"{small[5].event_id}/small"]  # the lowest similarity, but its answer is gone
    sims = [c["similarity"] for c in by["small"][1:]]
    assert sims == sorted(sims) and len(by["small"]) == 3 and len(by["big"]) == 4
    for case in suite["cases"]:
        assert case["production"]["text"] == f"production answer {case['event_id']}"
        assert case["challenger_answer"]["text"] == f"{case['challenger']} answer {case['event_id']}"
        assert case["request"]["messages"][0]["content"] == f"question {case['event_id']}"


def test_export_pairs_filters_by_similarity(loaded, tmp_path, capsys):
    _, small, big = loaded
    out = tmp_path / "pairs.jsonl"
    assert main(["report", "export-pairs", str(out), "--min-similarity", "0.8"]) == 0
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    expected = {(r.event_id, r.challenger) for r in small + big if r.similarity is not None and r.similarity >= 0.8}
    assert {(p["event_id"], p["challenger"]) for p in pairs} == expected and 0 < len(pairs) < 2 * N
    for p in pairs:
        assert p["similarity"] >= 0.8
        assert p["messages"][-1] == {"role": "assistant", "content": p["teacher"]["text"]}
        assert p["student"]["text"] == f"{p['challenger']} answer {p['event_id']}"
    assert json.loads(capsys.readouterr().out)["written"] == len(pairs)


def test_html_report_renders_plots_and_names(loaded, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", "html", str(out)]) == 0
    page = out.read_text()
    assert page.count("<img ") == 4 and page.count("data:image/png;base64,") == 4
    assert "control (noise floor): control" in page and ">small<" in page and ">big<" in page
    assert "Consumer lag" in page and "<script" not in page
