"""Files to hand to someone else: a JSON regression suite of diverging inputs, JSONL training pairs.

Which pairs: chosen in ClickHouse (shadow_scores FINAL, one scorer version). Their texts: read back from
shadow.results (analytics/reports/answers.py). A pair whose result has left the topic (retention) is
listed under `missing`, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel, Field

from analytics.reports.answers import AnswerScan
from analytics.scope import Scope
from schemas.clickhouse import SCORES_TABLE
from schemas.events import ChatMessage, NormalizedRequest, ShadowResult

__all__ = ["Answer", "RegressionCase", "RegressionSuite", "TrainingPair", "PairExport", "select_divergent",
           "select_pairs", "regression_suite", "training_pairs", "divergence_reasons", "AnswerFetcher"]

# (wanted pairs, since, until) -> (answers, scan): fetch_answers bound to a broker and topic.
AnswerFetcher = Callable[[set[tuple[str, str]], datetime, datetime],
                         tuple[dict[tuple[str, str], ShadowResult], AnswerScan]]

_COLUMNS = ("event_id, challenger, challenger_model, route, tenant, ts_request, ts_scored, similarity, label_flip, "
            "refusal_production, refusal_challenger, json_fields_changed, latency_delta_ms")
# Flips (a classifier's decision or a refusal changed) first: they matter even at high text similarity.
_DIVERGENT_SQL = f"""
SELECT {_COLUMNS}
FROM {SCORES_TABLE} FINAL
WHERE {{where}} AND NOT is_control AND status = 'ok' AND similarity IS NOT NULL
  AND ({{challenger:String}} = '' OR challenger = {{challenger:String}})
  AND (similarity <= {{max_similarity:Float64}} OR label_flip != '' OR ifNull(refusal_production != refusal_challenger, false))
ORDER BY challenger, (label_flip != '' OR ifNull(refusal_production != refusal_challenger, false)) DESC,
         similarity ASC, event_id
LIMIT {{per_challenger:UInt32}} BY challenger
"""
_PAIRS_SQL = f"""
SELECT {_COLUMNS}
FROM {SCORES_TABLE} FINAL
WHERE {{where}} AND NOT is_control AND status = 'ok' AND similarity IS NOT NULL
  AND ({{challenger:String}} = '' OR challenger = {{challenger:String}})
  AND similarity >= {{min_similarity:Float64}} AND similarity <= {{max_similarity:Float64}}
ORDER BY challenger, event_id
LIMIT {{limit:UInt32}}
"""


class Answer(BaseModel):
    model: str
    text: str
    finish_reason: str | None = None
    latency_ms: float | None = None


class RegressionCase(BaseModel):
    id: str  # event_id/challenger
    event_id: str
    challenger: str
    route: str
    tenant: str
    ts_request: datetime
    similarity: float
    delta_s: float
    reasons: list[str]
    request: NormalizedRequest
    production: Answer
    challenger_answer: Answer


class RegressionSuite(BaseModel):
    format: str = "shadow-optic.regressions/1"
    generated_at: datetime
    app: str
    scorer_version: str
    selection: dict[str, Any]
    cases: list[RegressionCase]
    missing: list[str] = Field(default_factory=list, description="selected pairs whose answers left shadow.results")
    scan: AnswerScan | None = None


class TrainingPair(BaseModel):
    """One teacher/student pair: `messages` is ready for chat fine-tuning (the teacher's answer as target)."""

    event_id: str
    challenger: str
    similarity: float
    route: str
    messages: list[ChatMessage]
    prompt: str | None = None
    teacher: Answer
    student: Answer


class PairExport(BaseModel):
    written: int
    selected: int
    missing: list[str]
    scan: AnswerScan | None


def divergence_reasons(row: dict[str, Any]) -> list[str]:
    reasons = [f"similarity {row['similarity']:.3f} (ΔS {1 - row['similarity']:.3f})"]
    if row.get("label_flip"):
        reasons.append(f"label flip {row['label_flip']}")
    rp, rc = row.get("refusal_production"), row.get("refusal_challenger")
    if rp is not None and rc is not None and rp != rc:
        reasons.append("challenger refused, production answered" if rc else "production refused, challenger answered")
    if row.get("json_fields_changed"):
        reasons.append("JSON fields changed: " + ", ".join(row["json_fields_changed"]))
    if row.get("latency_delta_ms") is not None and abs(row["latency_delta_ms"]) > 200:
        reasons.append(f"latency delta {row['latency_delta_ms']:+.0f} ms")
    return reasons


def select_divergent(client: Client, scope: Scope, per_challenger: int, max_similarity: float,
                     challenger: str = "") -> list[dict[str, Any]]:
    result = client.query(_DIVERGENT_SQL.replace("{where}", scope.where()),
                          parameters={**scope.params(), "challenger": challenger, "max_similarity": max_similarity,
                                      "per_challenger": per_challenger})
    return list(result.named_results())


def select_pairs(client: Client, scope: Scope, min_similarity: float, max_similarity: float = 1.0,
                 challenger: str = "", limit: int = 100_000) -> list[dict[str, Any]]:
    result = client.query(_PAIRS_SQL.replace("{where}", scope.where()),
                          parameters={**scope.params(), "challenger": challenger, "min_similarity": min_similarity,
                                      "max_similarity": max_similarity, "limit": limit})
    return list(result.named_results())


def _answers(rows: list[dict[str, Any]], fetch: AnswerFetcher):
    """(rows paired with their answer from shadow.results, "event/challenger" of rows without one, scan)."""
    if not rows:
        return [], [], None
    wanted = {(r["event_id"], r["challenger"]) for r in rows}
    since = min(_utc(r["ts_request"]) for r in rows)
    until = max(_utc(r["ts_scored"]) for r in rows)
    answers, scan = fetch(wanted, since, until)
    found, missing = [], []
    for r in rows:
        result = answers.get((r["event_id"], r["challenger"]))
        if result is None:
            missing.append(f"{r['event_id']}/{r['challenger']}")
        else:
            found.append((r, result))
    return found, missing, scan


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _sides(result: ShadowResult) -> tuple[Answer, Answer]:
    event = result.event
    production = Answer(model=event.production_model, text=event.response.text,
                        finish_reason=event.response.finish_reason, latency_ms=event.latency_ms)
    challenger = Answer(model=result.challenger_model, text=result.response_text,
                        finish_reason=result.finish_reason, latency_ms=result.latency_ms)
    return production, challenger


def regression_suite(client: Client, scope: Scope, fetch: AnswerFetcher, per_challenger: int = 20,
                     max_similarity: float = 1.0, challenger: str = "") -> RegressionSuite:
    rows = select_divergent(client, scope, per_challenger, max_similarity, challenger)
    found, missing, scan = _answers(rows, fetch)
    cases = []
    for r, result in found:
        production, answer = _sides(result)
        cases.append(RegressionCase(
            id=f"{r['event_id']}/{r['challenger']}", event_id=r["event_id"], challenger=r["challenger"],
            route=r["route"], tenant=r["tenant"], ts_request=_utc(r["ts_request"]), similarity=r["similarity"],
            delta_s=1 - r["similarity"], reasons=divergence_reasons(r), request=result.event.request,
            production=production, challenger_answer=answer))
    return RegressionSuite(generated_at=datetime.now(UTC), app=scope.app, scorer_version=scope.scorer_version,
                           selection={"per_challenger": per_challenger, "max_similarity": max_similarity,
                                      "challenger": challenger or None,
                                      "order": "flips first, then lowest similarity"},
                           cases=cases, missing=missing, scan=scan)


def training_pairs(client: Client, scope: Scope, fetch: AnswerFetcher, write: Callable[[TrainingPair], None],
                   min_similarity: float, max_similarity: float = 1.0, challenger: str = "",
                   limit: int = 100_000) -> PairExport:
    rows = select_pairs(client, scope, min_similarity, max_similarity, challenger, limit)
    found, missing, scan = _answers(rows, fetch)
    written = 0
    for r, result in found:
        teacher, student = _sides(result)
        request = result.event.request
        messages = list(request.messages) or [ChatMessage(role="user", content=request.prompt or "")]
        write(TrainingPair(event_id=r["event_id"], challenger=r["challenger"], similarity=r["similarity"],
                           route=r["route"], messages=[*messages, ChatMessage(role="assistant", content=teacher.text)],
                           prompt=request.prompt, teacher=teacher, student=student))
        written += 1
    return PairExport(written=written, selected=len(rows), missing=missing, scan=scan)
