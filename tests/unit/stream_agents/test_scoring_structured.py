"""Structured-output scores and the fields they put on the record (no services)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import (CapturedResponse, ChatMessage, InferenceEvent, Judgment, NormalizedRequest, ShadowResult,
                           ShadowStatus, Usage)
from schemas.settings import ModelPrice
from stream_agents.scoring import (
    SCORER_VERSION,
    STRUCTURED_VERSION,
    extract_label,
    extract_number,
    json_field_diff,
    label_agreement,
    numeric_error,
    score_result,
    scorer_version,
)


@pytest.mark.parametrize(("text", "label"), [
    ('{"label": "Reject", "score": 0.2}', "reject"),
    ('{"decision": "approve"}', "approve"),
    ('"spam"', "spam"),
    ("true", "true"),
    ('["ham"]', "ham"),
    ("Approve.", "approve"),
    ('```json\n{"class": "fraud"}\n```', "fraud"),
    ("The request should be approved because the income is sufficient.", None),
    ('{"text": "no label field here"}', None),
    ("0.73", None),  # a number is a numeric output, not a class
])
def test_labels_are_read_from_json_fields_or_a_single_word(text: str, label: str | None) -> None:
    assert extract_label(text) == label


def test_a_flip_names_its_direction_and_agreement_needs_both_labels() -> None:
    flip = label_agreement("reject", "approve")
    assert (flip.agree, flip.flip) == (False, "reject->approve")
    same = label_agreement("approve", "approve")
    assert (same.agree, same.flip) == (True, "")
    assert label_agreement(None, "approve").agree is None


def test_numeric_error_absolute_and_relative() -> None:
    assert extract_number('{"score": 0.8}') == 0.8
    assert extract_number(" 42 ") == 42.0
    assert extract_number('{"score": "x"}') is None
    assert extract_number("true") is None
    e = numeric_error(0.8, 0.6)
    assert e is not None and e.absolute == pytest.approx(0.2) and e.relative == pytest.approx(0.25)
    assert numeric_error(0.0, 0.0).relative == 0.0
    assert numeric_error(0.0, 1.0).relative is None  # undefined, not infinite
    assert numeric_error(None, 1.0) is None


def test_json_field_diff_flattens_nested_objects() -> None:
    diff = json_field_diff('{"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}', '{"a": 1.0, "b": {"c": 2, "d": 4}, "f": true}')
    assert diff is not None
    assert diff.changed == ["b.d", "e", "f"]
    assert diff.agreement == pytest.approx(2 / 5)
    assert json_field_diff('{"a": true}', '{"a": 1}').changed == ["a"]  # JSON types differ
    assert json_field_diff("not json", "{}") is None


def _result(production: str, challenger: str, status: ShadowStatus = ShadowStatus.OK,
            usage: Usage | None = Usage(prompt_tokens=10, completion_tokens=5)) -> ShadowResult:
    now = datetime.now(UTC)
    event = InferenceEvent(event_id="e1", route="/v1/chat/completions", ts_request=now, ts_response=now,
                           production_model="gpt-4",
                           request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content="q")]),
                           response=CapturedResponse(status_code=200, text=production,
                                                     usage=Usage(prompt_tokens=10, completion_tokens=20)),
                           latency_ms=100.0, request_hash="h")
    return ShadowResult(event=event, challenger="c", challenger_model="m", status=status, response_text=challenger,
                        usage=usage, latency_ms=50.0, cost_usd=0.001, ts_called=now)


def test_the_record_carries_flip_numeric_diff_and_token_deltas() -> None:
    record = score_result(_result('{"label": "reject", "score": 0.5}', '{"label": "approve", "score": 0.75}'),
                          ModelPrice(input_per_1k=1.0, output_per_1k=2.0))
    assert (record.label_production, record.label_challenger, record.label_agree, record.label_flip) == (
        "reject", "approve", False, "reject->approve")
    assert record.numeric_abs_error == pytest.approx(0.25)
    assert record.numeric_rel_error == pytest.approx(0.5)
    assert record.json_fields_changed == ["label", "score"]
    assert record.completion_tokens_delta == 5 - 20
    assert record.total_tokens_delta == 15 - 30
    assert record.production_cost_usd == pytest.approx(0.05)
    assert record.judgment is None
    assert record.scorer_version == SCORER_VERSION and STRUCTURED_VERSION in SCORER_VERSION


def test_prose_answers_leave_structured_fields_empty_and_unknown_usage_gives_no_delta() -> None:
    record = score_result(_result("A long prose answer.", "Another prose answer here.", usage=None), ModelPrice())
    assert record.label_agree is None and record.label_flip == ""
    assert record.numeric_abs_error is None and record.json_field_agreement is None
    assert record.completion_tokens_delta is None


def test_a_judgment_rides_on_the_record_without_changing_the_scorer_version() -> None:
    judgment = Judgment(judge_version="pairwise-1:jm", judge_model="jm", status="judged", score=0.75,
                        ts_judged=datetime.now(UTC))
    record = score_result(_result("a", "b"), ModelPrice(), judgment=judgment)
    assert record.judgment == judgment
    assert record.scorer_version == SCORER_VERSION == scorer_version() and "judge" not in SCORER_VERSION


def test_failed_calls_get_no_scores() -> None:
    record = score_result(_result("a", "", status=ShadowStatus.TIMEOUT), ModelPrice())
    assert record.similarity is None and record.label_agree is None and record.total_tokens_delta is None
