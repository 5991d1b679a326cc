from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.events import (
    CapturedResponse,
    ChatMessage,
    InferenceEvent,
    NormalizedRequest,
    ScoredRecord,
    ShadowResult,
    ShadowStatus,
)


def _event(**overrides) -> InferenceEvent:
    fields = dict(
        event_id="01JABCDEF", route="/v1/chat/completions", ts_request=datetime(2026, 1, 1, tzinfo=UTC),
        ts_response=datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), production_model="gpt-4",
        request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content="hi")]),
        response=CapturedResponse(status_code=200, text="hello"), latency_ms=1000.0, request_hash="abc",
    )
    fields.update(overrides)
    return InferenceEvent(**fields)


def test_event_round_trips_through_json_bytes():
    event = _event(tags={"team": "search"}, redactions={"email": 2})
    wire = event.model_dump_json().encode()
    assert InferenceEvent.model_validate_json(wire) == event
    assert b'"schema_version":1' in wire


def test_event_rejects_an_unknown_schema_version_and_unknown_fields():
    wire = _event().model_dump()
    with pytest.raises(ValidationError, match="schema_version"):
        InferenceEvent.model_validate({**wire, "schema_version": 2})
    with pytest.raises(ValidationError, match="surprise"):
        InferenceEvent.model_validate({**wire, "surprise": 1})


def test_event_rejects_negative_latency_and_empty_id():
    with pytest.raises(ValidationError):
        _event(latency_ms=-1.0)
    with pytest.raises(ValidationError):
        _event(event_id="")


def test_last_user_text_is_the_last_user_message():
    request = NormalizedRequest(model="m", messages=[
        ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="first"),
        ChatMessage(role="assistant", content="ok"), ChatMessage(role="user", content="second")])
    assert request.last_user_text() == "second"


def test_shadow_result_embeds_the_event_and_keeps_the_status():
    result = ShadowResult(event=_event(), challenger="c", challenger_model="m", status=ShadowStatus.TIMEOUT,
                          ts_called=datetime.now(UTC), error="slow")
    again = ShadowResult.model_validate_json(result.model_dump_json())
    assert again.status is ShadowStatus.TIMEOUT
    assert again.event.event_id == "01JABCDEF"


def test_scored_record_statuses_are_the_documented_set():
    assert {s.value for s in ShadowStatus} == {"ok", "error", "timeout", "skipped_rate_limited", "skipped_budget",
                                               "circuit_open", "ineligible"}
    with pytest.raises(ValidationError):
        ScoredRecord.model_validate({"status": "maybe"})
