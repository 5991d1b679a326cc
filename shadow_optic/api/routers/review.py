"""The review page (/review) and its JSON: a queue of pairs, blind ratings onto shadow.feedback, calibration.

GET /review is a page with no data in it; its script reads /review/queue and posts /review/ratings
with the caller's token (role `review`). A rating is published to shadow.feedback as a 'preference'
(analytics/outcomes.py) and stored by the worker's feedback agent, like every outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from analytics.calibration import JudgeCalibration, gather_calibration
from analytics.reports.html import calibration_table
from analytics.review_queue import (REASONS, Filters, build_queue, filter_values, highlight_pair, load_candidates,
                                    load_texts, shown_first)
from schemas.errors import InvalidRequestError
from schemas.events import PREFERENCE_POINTS, OutcomeFeedback
from shadow_optic.api.auth import Principal, require_role
from shadow_optic.api.review_page import render_review_page
from shadow_optic.api.state import ApiState, api_state

router = APIRouter(tags=["review"])
State = Annotated[ApiState, Depends(api_state)]
Reviewer = Annotated[Principal, Depends(require_role("review"))]
Reader = Annotated[Principal, Depends(require_role("read"))]
# The caller's role is checked first (before any store is touched). Without tokens (loopback only) the page sends the name the reviewer typed; with tokens, the token names them.
NamedBy = Annotated[str | None, Header(alias="X-Shadow-Reviewer", description="the reviewer's name when the API "
                                       "has no tokens; ignored otherwise")]


def _reviewer(principal: Principal, named: str | None) -> str:
    return principal.name if principal.authenticated else (named or "").strip()[:100]
# The HTML routes answer errors as JSON too, like every route.
_JSON_ERRORS = {code: {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
                for code in (400, 401, 403, 500, 503)}


class Side(BaseModel):
    html: str = Field(description="the answer as escaped HTML, the words that differ from the other side in <mark>")


class ReviewItem(BaseModel):
    event_id: str
    challenger: str
    route: str
    tenant: str
    reason: str = Field(description="why the queue offers it; 'random' for the unbiased share")
    reason_text: str
    request: str
    left: Side
    right: Side


class ReviewQueue(BaseModel):
    reviewer: str
    items: list[ReviewItem]
    remaining: int = Field(description="pairs with stored answers this reviewer has not rated (after filters)")
    rated_by_you: int
    random_share: float
    filters: dict[str, list[str]]


class RatingRequest(BaseModel):
    app: str | None = None
    event_id: str = Field(min_length=1, max_length=64)
    challenger: str = Field(min_length=1, max_length=100)
    choice: Literal["left", "right", "tie"]
    rating_left: int | None = Field(None, ge=1, le=5)
    rating_right: int | None = Field(None, ge=1, le=5)
    note: str = Field("", max_length=2000)
    queue_reason: str = Field("", max_length=40)


class RatingAccepted(BaseModel):
    published: bool
    reviewer: str
    preferred: Literal["challenger", "production", "tie"]
    shown_first: Literal["production", "challenger"]


@router.get("/review", response_class=HTMLResponse, responses=_JSON_ERRORS,
            summary="The review page (HTML; its data needs the review role)")
async def review_page(state: State, challenger: str = "", route: str = "", tenant: str = "") -> HTMLResponse:
    token_required = bool(state.settings.api_tokens)
    # With tokens, even the agreement figures wait for the reader's token (the script fetches them).
    calibration = None if token_required else list((await state.ch(
        gather_calibration, state.settings.app_name, state.settings.judge_min_kappa,
        state.settings.judge_calibration_min_pairs)).values())
    return HTMLResponse(render_review_page(calibration, Filters(challenger=challenger, route=route, tenant=tenant),
                                           token_required=token_required,
                                           random_share=state.settings.review_random_share))


@router.get("/review/queue", response_model=ReviewQueue, summary="The next pairs for this reviewer, blind")
async def review_queue(principal: Reviewer, state: State, named: NamedBy = None, app: str | None = None,
                       challenger: str = "", route: str = "", tenant: str = "",
                       limit: Annotated[int, Query(ge=1, le=200)] = 20) -> ReviewQueue:
    caller = _reviewer(principal, named)
    if not caller:
        raise InvalidRequestError("the queue is per reviewer: type your name on the page (X-Shadow-Reviewer) "
                                  "or use a token from SHADOW_API_TOKENS")
    name = state.app_name(app)
    filters = Filters(challenger=challenger, route=route, tenant=tenant)
    candidates, rated = await state.ch(load_candidates, name, caller, filters)
    queue = build_queue(candidates, limit, state.settings.review_random_share, seed=caller)
    texts = await state.ch(load_texts, name, [(q.candidate.event_id, q.candidate.challenger) for q in queue])
    items = []
    for q in queue:
        c = q.candidate
        request, production, challenger_answer = texts.get((c.event_id, c.challenger), ("", "", ""))
        first = shown_first(caller, c.event_id, c.challenger)
        left, right = (production, challenger_answer) if first == "production" else (challenger_answer, production)
        left_html, right_html = highlight_pair(left, right)
        items.append(ReviewItem(event_id=c.event_id, challenger=c.challenger, route=c.route, tenant=c.tenant,
                                reason=q.reason, reason_text=REASONS[q.reason], request=request,
                                left=Side(html=left_html), right=Side(html=right_html)))
    values = await state.ch(filter_values, name)
    return ReviewQueue(reviewer=caller, items=items, remaining=len(candidates), rated_by_you=rated,
                       random_share=state.settings.review_random_share, filters=values)


@router.post("/review/ratings", response_model=RatingAccepted,
             summary="Rate one pair (left/right as shown to you, or tie): published to shadow.feedback")
async def rate(principal: Reviewer, state: State, body: RatingRequest, named: NamedBy = None) -> RatingAccepted:
    caller = _reviewer(principal, named)
    if not caller:
        raise InvalidRequestError("a rating needs a reviewer's name: type it on the page (X-Shadow-Reviewer) or "
                                  "use a token from SHADOW_API_TOKENS")
    # The order is recomputed here, never taken from the page: the page only knows left and right.
    first = shown_first(caller, body.event_id, body.challenger)
    other = "challenger" if first == "production" else "production"
    preferred = {"left": first, "right": other, "tie": "tie"}[body.choice]
    ratings = {first: body.rating_left, other: body.rating_right}
    record = OutcomeFeedback(event_id=body.event_id, subject=body.challenger, kind="preference",
                             value=PREFERENCE_POINTS[preferred], source="review", ts=datetime.now(UTC),
                             reviewer=caller, shown_first=first, queue_reason=body.queue_reason,
                             rating_production=ratings["production"], rating_challenger=ratings["challenger"],
                             note=body.note)
    await state.publish_feedback(record)
    return RatingAccepted(published=True, reviewer=caller, preferred=preferred,  # type: ignore[arg-type]
                          shown_first=first)


@router.get("/review/calibration.html", response_class=HTMLResponse, responses=_JSON_ERRORS,
            summary="The calibration table as an HTML fragment (the review page refreshes it)")
async def calibration_fragment(_principal: Reader, state: State, app: str | None = None) -> HTMLResponse:
    found = await state.ch(gather_calibration, state.app_name(app), state.settings.judge_min_kappa,
                           state.settings.judge_calibration_min_pairs)
    return HTMLResponse(calibration_table(list(found.values())))


@router.get("/calibration", response_model=list[JudgeCalibration],
            summary="Each pairwise judge version against people: accuracy, Cohen's kappa, flip rate, floor")
async def calibration(_principal: Reader, state: State, app: str | None = None) -> list[JudgeCalibration]:
    found = await state.ch(gather_calibration, state.app_name(app), state.settings.judge_min_kappa,
                           state.settings.judge_calibration_min_pairs)
    return list(found.values())
