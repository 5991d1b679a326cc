"""Turns a ShadowResult into the ScoredRecord row: every score, delta and flag, with the scorer version."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from schemas.events import Judgment, NormalizedRequest, PairAnswers, ScoredRecord, ShadowResult, ShadowStatus
from schemas.settings import ModelPrice
from stream_agents.scoring.checks import exact_match, is_refusal, json_validity, length_ratio
from stream_agents.scoring.similarity import SIMILARITY_VERSION, SimilarityScore, lexical_similarity
from stream_agents.scoring.structured import (
    DEFAULT_LABEL_FIELDS,
    DEFAULT_NUMERIC_FIELDS,
    STRUCTURED_VERSION,
    extract_label,
    extract_number,
    json_field_diff,
    label_agreement,
    numeric_error,
)

__all__ = ["SCORER_VERSION", "score_result", "scorer_version", "pair_answers", "request_text"]


def scorer_version(similarity_version: str = SIMILARITY_VERSION) -> str:
    """The version written on every row: record arithmetic + structured checks + similarity.

    Bump `record-N` when the record's own arithmetic changes; each scorer carries its own version.
    A judge is not part of it: its verdicts are rows of their own, keyed by the judge's version.
    """
    return f"record-2+{STRUCTURED_VERSION}+{similarity_version}"


SCORER_VERSION = scorer_version()


def score_result(result: ShadowResult, production_price: ModelPrice, now: datetime | None = None, *,
                 similarity: SimilarityScore | None = None, judgment: Judgment | None = None,
                 version: str = SCORER_VERSION, label_fields: tuple[str, ...] | list[str] = DEFAULT_LABEL_FIELDS,
                 numeric_fields: tuple[str, ...] | list[str] = DEFAULT_NUMERIC_FIELDS,
                 answers_max_chars: int = 0) -> ScoredRecord:
    """The row for one result. Pure: `similarity` and `judgment` come precomputed from the async Scorer
    (embeddings, the judge); without them the lexical similarity is used and no judgment is carried.
    `answers_max_chars` > 0 carries the request and both answers (each cut to it) for shadow_answers."""
    event = result.event
    production_usage = event.response.usage
    production_cost = production_price.cost(production_usage.prompt_tokens if production_usage else 0,
                                            production_usage.completion_tokens if production_usage else 0)
    common = dict(
        event_id=event.event_id,
        challenger=result.challenger,
        challenger_model=result.challenger_model,
        is_control=result.is_control,
        app=event.app,
        route=event.route,
        tenant=event.tenant or "",
        production_model=event.production_model,
        production_model_rev=event.production_model_rev,
        request_hash=event.request_hash,
        ts_request=event.ts_request,
        ts_scored=now or datetime.now(UTC),
        status=result.status,
        error=result.error or "",
        production_latency_ms=event.latency_ms,
        production_prompt_tokens=production_usage.prompt_tokens if production_usage else 0,
        production_completion_tokens=production_usage.completion_tokens if production_usage else 0,
        production_cost_usd=production_cost,
        scorer_version=version,
    )
    if result.status is not ShadowStatus.OK:
        return ScoredRecord(**common, challenger_latency_ms=result.latency_ms)

    production_text, challenger_text = event.response.text, result.response_text
    if similarity is None:
        similarity = lexical_similarity(production_text, challenger_text)
    challenger_usage = result.usage
    challenger_cost = result.cost_usd or 0.0
    challenger_latency = result.latency_ms
    return ScoredRecord(
        **common,
        similarity=similarity.value,
        similarity_method=similarity.method,
        similarity_components=similarity.components,
        exact_match=exact_match(challenger_text, production_text),
        json_valid_production=json_validity(production_text),
        json_valid_challenger=json_validity(challenger_text),
        length_ratio=length_ratio(challenger_text, production_text),
        refusal_production=is_refusal(production_text),
        refusal_challenger=is_refusal(challenger_text),
        challenger_latency_ms=challenger_latency,
        latency_delta_ms=None if challenger_latency is None else challenger_latency - event.latency_ms,
        latency_ratio=(None if challenger_latency is None or event.latency_ms <= 0
                       else challenger_latency / event.latency_ms),
        challenger_prompt_tokens=challenger_usage.prompt_tokens if challenger_usage else 0,
        challenger_completion_tokens=challenger_usage.completion_tokens if challenger_usage else 0,
        challenger_cost_usd=challenger_cost,
        cost_delta_usd=challenger_cost - production_cost,
        **_token_deltas(common, challenger_usage is not None, production_usage is not None,
                        challenger_usage.prompt_tokens if challenger_usage else 0,
                        challenger_usage.completion_tokens if challenger_usage else 0),
        **_structured(production_text, challenger_text, label_fields, numeric_fields),
        judgment=judgment,
        answers=pair_answers(result, answers_max_chars) if answers_max_chars > 0 else None,
    )


def request_text(request: NormalizedRequest) -> str:
    """The request as a person reads it: every turn as '### role' and its text, a prompt, or a JSON body."""
    if request.messages:
        return "\n".join(f"### {m.role}\n{m.content}" for m in request.messages)
    if request.prompt is not None:
        return request.prompt
    return json.dumps(request.params, ensure_ascii=False, sort_keys=True)


def pair_answers(result: ShadowResult, max_chars: int) -> PairAnswers:
    """The texts exactly as captured (already masked at the gateway), each cut to `max_chars`."""
    return PairAnswers(request=request_text(result.event.request)[:max_chars],
                       production_answer=result.event.response.text[:max_chars],
                       challenger_answer=result.response_text[:max_chars])


def _token_deltas(common: dict, has_challenger: bool, has_production: bool, prompt: int, completion: int) -> dict:
    # Unknown usage on either side is not a zero: leave the delta empty rather than invent one.
    if not (has_challenger and has_production):
        return {}
    production_total = common["production_prompt_tokens"] + common["production_completion_tokens"]
    return {"completion_tokens_delta": completion - common["production_completion_tokens"],
            "total_tokens_delta": prompt + completion - production_total}


def _structured(production: str, challenger: str, label_fields, numeric_fields) -> dict:
    fields: dict = {}
    labels = label_agreement(extract_label(production, label_fields), extract_label(challenger, label_fields))
    if labels.agree is not None:
        fields |= {"label_production": labels.production, "label_challenger": labels.challenger,
                   "label_agree": labels.agree, "label_flip": labels.flip}
    error = numeric_error(extract_number(production, numeric_fields), extract_number(challenger, numeric_fields))
    if error is not None:
        fields |= {"numeric_abs_error": error.absolute, "numeric_rel_error": error.relative}
    diff = json_field_diff(production, challenger)
    if diff is not None:
        fields |= {"json_field_agreement": diff.agreement, "json_fields_changed": diff.changed}
    return fields

