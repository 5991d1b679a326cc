"""Turns a ShadowResult into the ScoredRecord row: every score, delta and flag, with the scorer version."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import ScoredRecord, ShadowResult, ShadowStatus
from schemas.settings import ModelPrice
from stream_agents.scoring.checks import exact_match, is_refusal, json_validity, length_ratio
from stream_agents.scoring.similarity import SIMILARITY_VERSION, lexical_similarity

__all__ = ["SCORER_VERSION", "score_result"]

# Bump the first part when the record's own arithmetic changes; similarity carries its own version.
SCORER_VERSION = f"record-1+{SIMILARITY_VERSION}"


def score_result(result: ShadowResult, production_price: ModelPrice, now: datetime | None = None) -> ScoredRecord:
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
        scorer_version=SCORER_VERSION,
    )
    if result.status is not ShadowStatus.OK:
        return ScoredRecord(**common, challenger_latency_ms=result.latency_ms)

    production_text, challenger_text = event.response.text, result.response_text
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
    )
