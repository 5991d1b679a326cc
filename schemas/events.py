"""The three messages of the pipeline, JSON on the wire, each with a schema_version.

InferenceEvent (shadow.requests) -> ShadowResult (shadow.results) -> ScoredRecord (shadow.scored,
then a row of ClickHouse's shadow_scores).
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import InvalidEventError

__all__ = [
    "SCHEMA_VERSION",
    "ChatMessage",
    "NormalizedRequest",
    "Usage",
    "CapturedResponse",
    "Serving",
    "InferenceEvent",
    "ShadowStatus",
    "ShadowResult",
    "Judgment",
    "PairAnswers",
    "ScoredRecord",
    "OutcomeFeedback",
    "PREFERENCE_POINTS",
    "check_feedback",
    "DecisionRecord",
]

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(_Model):
    role: str
    content: str = ""
    name: str | None = None


class NormalizedRequest(_Model):
    """The request as a challenger needs it: secrets gone, PII masked, parameters kept."""

    kind: Literal["chat", "completion", "embedding", "json"] = "chat"
    model: str
    messages: list[ChatMessage] = Field(default_factory=list)
    prompt: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens, …")
    tools_present: bool = False
    stream: bool = False

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return self.prompt or ""


class Usage(_Model):
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)


class CapturedResponse(_Model):
    status_code: int
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class Serving(_Model):
    """Which model served a chat/completion request, and the rollout step it was served on."""

    served_by: str = Field(description="champion or candidate name; `production` is SHADOW_PRODUCTION_URL")
    arm: Literal["champion", "candidate"] = "champion"
    rollout_id: str | None = None
    rollout_step: int | None = Field(None, ge=0, description="index of the step in the rollout's plan")
    rollout_share: float | None = Field(None, ge=0, le=1, description="the candidate's share on that step")
    compare_with: str | None = Field(None, description="candidate-served: the champion the worker shadows it to")
    requested_model: str | None = Field(None, description="the model the caller asked for (the champion's "
                                                          "when production serves)")


class InferenceEvent(_Model):
    """One production request/response, as the gateway published it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=64, description="sortable unique id (ULID)")
    app: str = "default"
    route: str
    tenant: str | None = None
    ts_request: datetime
    ts_response: datetime
    production_model: str
    production_model_rev: str = "unknown"
    request: NormalizedRequest
    response: CapturedResponse
    latency_ms: float = Field(ge=0)
    ttft_ms: float | None = None
    replayable: bool = True
    not_replayable_reason: str | None = None
    redactions: dict[str, int] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    request_hash: str
    serving: Serving | None = None  # absent in events published before progressive rollouts


class ShadowStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    SKIPPED_RATE_LIMITED = "skipped_rate_limited"
    SKIPPED_BUDGET = "skipped_budget"
    CIRCUIT_OPEN = "circuit_open"
    INELIGIBLE = "ineligible"


class ShadowResult(_Model):
    """What one challenger answered to one event (or why it was not asked)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event: InferenceEvent
    challenger: str
    challenger_model: str
    is_control: bool = False
    status: ShadowStatus
    response_text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    error: str | None = None
    ts_called: datetime


class Judgment(_Model):
    """What a judge said of one (event, challenger) pair: one row of shadow_judgments.

    Pairwise (`pairwise-1:<model>`): `score` is the challenger's points, the mean over both orders
    (win 1, tie 0.5, loss 0), and `flipped` marks a verdict that followed the slot. Rubric
    (`judge-1:<model>`, G-Eval style, 0-1 per criterion): `faithfulness` is agreement with
    production's facts (an equivalence signal), `quality` the answer's own quality.
    `status` is `judged`, or `not_judged` with the `reason` (no record, empty answer, judge error,
    budget spent): such pairs are counted and left out of the win rate.
    """

    judge_version: str
    judge_model: str
    status: Literal["judged", "not_judged"]
    reason: str = ""
    score: float | None = Field(None, ge=0, le=1)
    flipped: bool = False
    length_ratio: float | None = None  # challenger / production characters: judges favour length
    faithfulness: float | None = None
    quality: float | None = None
    quality_production: float | None = None
    conciseness: float | None = None
    refusal: bool | None = None
    cost_usd: float = 0.0
    ts_judged: datetime


class PairAnswers(_Model):
    """The texts of one pair as masked at the gateway: one row of shadow_answers (migration 121).

    Carried on the ScoredRecord so the sink can store them next to the scores (the texts otherwise
    live only in shadow.results, bounded by Kafka's retention); each is cut to SHADOW_ANSWERS_MAX_CHARS.
    """

    request: str
    production_answer: str
    challenger_answer: str


class ScoredRecord(_Model):
    """One row of shadow_scores; (event_id, challenger, scorer_version) is its identity."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    challenger: str
    challenger_model: str
    is_control: bool
    app: str
    route: str
    tenant: str
    production_model: str
    production_model_rev: str
    request_hash: str
    ts_request: datetime
    ts_scored: datetime
    status: ShadowStatus
    error: str = ""
    similarity: float | None = None
    similarity_method: str = ""
    similarity_components: dict[str, float] = Field(default_factory=dict)
    exact_match: bool | None = None
    json_valid_production: bool | None = None
    json_valid_challenger: bool | None = None
    length_ratio: float | None = None
    refusal_production: bool | None = None
    refusal_challenger: bool | None = None
    production_latency_ms: float
    challenger_latency_ms: float | None = None
    latency_delta_ms: float | None = None
    latency_ratio: float | None = None
    production_prompt_tokens: int = 0
    production_completion_tokens: int = 0
    challenger_prompt_tokens: int = 0
    challenger_completion_tokens: int = 0
    production_cost_usd: float = 0.0
    challenger_cost_usd: float = 0.0
    cost_delta_usd: float = 0.0
    scorer_version: str
    # --- scoring fields (stream_agents/scoring/); all optional ---
    # Token deltas: challenger - production (completion and prompt + completion).
    completion_tokens_delta: int | None = None
    total_tokens_delta: int | None = None
    # Classifier / JSON-model outputs: the labels read from each side, agreement and flip direction
    # ("reject->approve"); empty when an answer carries no label.
    label_production: str = ""
    label_challenger: str = ""
    label_agree: bool | None = None
    label_flip: str = ""
    # JSON field-level diff: share of top-level fields with equal values, and the fields that differ.
    json_field_agreement: float | None = None
    json_fields_changed: list[str] = Field(default_factory=list)
    # Numeric outputs (regressors, scores): |challenger - production| and that over |production|.
    numeric_abs_error: float | None = None
    numeric_rel_error: float | None = None
    # The judge's verdict on this pair, if one was asked: written to shadow_judgments (its own table,
    # keyed by judge version), never to shadow_scores, so a judge does not split the scorer version.
    judgment: Judgment | None = None
    # The request and both answers, for shadow_answers (never a column of shadow_scores); None when
    # answers are not stored (SHADOW_ANSWERS_TTL_DAYS=0) or the challenger gave no answer.
    answers: PairAnswers | None = None


class OutcomeFeedback(_Model):
    """A late outcome for one answer (topic shadow.feedback, table shadow_feedback), joined by event id.

    subject: 'production' or a challenger name. kind: 'label' (value 1 = correct, 0 = wrong),
    'reward' (any real number, higher is better), 'rating' (a human rating 1–5) or 'preference': a
    person's pairwise verdict on (event, challenger), subject the challenger, value its points as the
    pairwise judge scores them (1 preferred to production, 0.5 tie, 0 production preferred), with
    the reviewer, which answer was shown first, why the queue offered it, and optional 1–5 ratings
    of each answer and a note.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=100)
    kind: Literal["label", "reward", "rating", "preference"]
    value: float
    label: str = ""
    source: str = "api"
    ts: datetime
    reviewer: str = Field("", max_length=100)
    shown_first: Literal["", "production", "challenger"] = ""
    queue_reason: str = Field("", max_length=40)
    rating_production: float | None = None
    rating_challenger: float | None = None
    note: str = Field("", max_length=2000)


# A preference's value: the challenger's points, as the pairwise judge scores them.
PREFERENCE_POINTS = {"challenger": 1.0, "tie": 0.5, "production": 0.0}


def check_feedback(record: OutcomeFeedback) -> None:
    """InvalidEventError saying what is wrong with a feedback record the model alone accepts."""
    if record.kind == "rating" and not 1 <= record.value <= 5:
        raise InvalidEventError(f"rating for event {record.event_id} is {record.value}: ratings are 1–5")
    if record.kind == "label" and record.value not in (0.0, 1.0):
        raise InvalidEventError(f"label for event {record.event_id} is {record.value}: use 1 (correct) or 0 (wrong)")
    if not math.isfinite(record.value):
        raise InvalidEventError(f"feedback for event {record.event_id} has a non-finite value")
    if record.kind == "preference":
        if record.value not in PREFERENCE_POINTS.values():
            raise InvalidEventError(f"preference for event {record.event_id} is {record.value}: use 1 (challenger "
                                    "better), 0.5 (tie) or 0 (production better)")
        if record.subject == "production":
            raise InvalidEventError(f"preference for event {record.event_id}: subject is the challenger compared "
                                    "with production, not 'production'")
    for side, rating in (("production", record.rating_production), ("challenger", record.rating_challenger)):
        if rating is not None and not 1 <= rating <= 5:
            raise InvalidEventError(f"{side} rating for event {record.event_id} is {rating}: ratings are 1–5")


class DecisionRecord(_Model):
    """A verdict, promotion, rollback or challenger deploy/remove with its evidence and who acted
    (topic shadow.decisions, table shadow_decisions)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    decision_id: str
    ts: datetime
    app: str
    # deploy/remove: challenger registry changes; canary/step: a progressive rollout; budget: the cost budget
    kind: Literal["verdict", "promote", "rollback", "deploy", "remove", "canary", "step", "budget"]
    challenger: str
    verdict: str
    score: float | None = None
    actor: str = "shadow-optic"
    reason: str
    evidence: dict[str, Any] = Field(default_factory=dict)
