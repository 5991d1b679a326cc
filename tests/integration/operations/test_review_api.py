"""The review endpoints on the real stack: the queue from ClickHouse, blind ratings onto shadow.feedback,
tokens and roles, and the calibration endpoint; every JSON answer checked against the OpenAPI document."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from analytics.review_queue import shown_first
from infra.clickhouse import connect
from schemas.events import Judgment, OutcomeFeedback, PairAnswers, ScoredRecord, ShadowStatus
from schemas.settings import ApiToken
from shadow_optic.api import create_api
from stream_agents.sink import ScoreSink
from tests.integration.operations.test_api import _check

pytestmark = pytest.mark.integration
AMY, REX = {"Authorization": "Bearer amy-review-token-0001"}, {"Authorization": "Bearer rex-read-token-00001"}


def _record(app: str, i: int, *, similarity: float, route: str, score: float | None = None, flipped: bool = False,
            label_flip: str = "") -> ScoredRecord:
    ts = datetime.now(UTC) - timedelta(minutes=10) + timedelta(seconds=i)
    judgment = None if score is None else Judgment(judge_version="pairwise-1:sim", judge_model="sim", status="judged",
                                                   score=score, flipped=flipped, ts_judged=ts)
    return ScoredRecord(
        event_id=f"{app}-{i:02d}", challenger="cheap", challenger_model="cheap", is_control=False, app=app, route=route,
        tenant="acme" if i % 2 else "globex", production_model="p", production_model_rev="1", request_hash="h",
        ts_request=ts, ts_scored=ts, status=ShadowStatus.OK, similarity=similarity, production_latency_ms=1.0,
        scorer_version="v1", label_flip=label_flip, judgment=judgment,
        answers=PairAnswers(request=f"question {i}", production_answer=f"production {i} says yes",
                            challenger_answer=f"challenger {i} says no"))


@pytest.fixture
def review(pipeline_settings):
    settings = pipeline_settings.model_copy(update={
        "review_random_share": 0.0,
        "api_tokens": [ApiToken(name="amy", token="amy-review-token-0001", role="review"),
                       ApiToken(name="rex", token="rex-read-token-00001", role="read")]})
    app = settings.app_name
    records = [_record(app, 0, similarity=0.9, route="/a", score=1.0),  # decisive on near-identical: dispute
               _record(app, 1, similarity=0.5, route="/a", score=0.5, flipped=True),  # the judge flipped
               _record(app, 2, similarity=0.6, route="/b", label_flip="no->yes"),
               _record(app, 3, similarity=0.2, route="/b"),
               _record(app, 4, similarity=0.4, route="/b")]
    sink = ScoreSink(lambda: connect(settings.clickhouse_url))
    asyncio.run(sink.write(records))
    sink.close()
    api = create_api(settings)
    with TestClient(api) as client:
        yield client, api.openapi(), settings


def _feedback(settings, expected: int) -> list[OutcomeFeedback]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"read-{settings.app_name}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([settings.topics.feedback])
    found: list[OutcomeFeedback] = []
    for _ in range(60):
        found += [OutcomeFeedback.model_validate_json(m.value()) for m in consumer.consume(10, timeout=1.0)
                  if m.error() is None]
        if len(found) >= expected:
            break
    consumer.close()
    return found


def test_the_queue_is_ordered_blind_filtered_and_rated_through_shadow_feedback(review):
    client, doc, settings = review
    assert client.get("/review/queue").status_code == 401
    assert client.get("/review/queue", headers={"Authorization": "Bearer amy-review-token-000l"}).status_code == 401
    refused = client.get("/review/queue", headers=REX)
    assert refused.status_code == 403 and refused.json()["error"] == "Forbidden"

    queue = _check(doc, "get", "/review/queue", client.get("/review/queue", headers=AMY))
    app = settings.app_name
    assert [(i["event_id"], i["reason"]) for i in queue["items"]] == [
        (f"{app}-01", "judge_inconsistent"), (f"{app}-00", "judge_vs_similarity"), (f"{app}-02", "classifier_flip"),
        (f"{app}-03", "divergent"), (f"{app}-04", "divergent")]
    assert queue["reviewer"] == "amy" and queue["remaining"] == 5 and queue["rated_by_you"] == 0
    assert queue["filters"] == {"challenger": ["cheap"], "route": ["/a", "/b"], "tenant": ["acme", "globex"]}
    first = queue["items"][0]
    production_left = shown_first("amy", first["event_id"], "cheap") == "production"
    assert ("production 1" in first["left"]["html"]) == production_left
    assert "<mark>" in first["left"]["html"] and first["request"] == "question 1"

    only_b = _check(doc, "get", "/review/queue", client.get("/review/queue", headers=AMY, params={"route": "/b"}))
    assert {i["event_id"] for i in only_b["items"]} == {f"{app}-02", f"{app}-03", f"{app}-04"}

    # "left" is production for some pairs and the challenger for others: the server undoes the order.
    accepted = _check(doc, "post", "/review/ratings", client.post("/review/ratings", headers=AMY, json={
        "event_id": first["event_id"], "challenger": "cheap", "choice": "left", "rating_left": 5, "note": "clear",
        "queue_reason": first["reason"]}))
    assert accepted["preferred"] == ("production" if production_left else "challenger")
    bad = client.post("/review/ratings", headers=AMY, json={"event_id": "x", "challenger": "cheap", "choice": "up"})
    assert bad.status_code == 422
    [stored] = _feedback(settings, 1)
    assert stored.kind == "preference" and stored.reviewer == "amy" and stored.queue_reason == "judge_inconsistent"
    assert stored.value == (0.0 if production_left else 1.0) and stored.note == "clear"
    assert (stored.rating_production if production_left else stored.rating_challenger) == 5

    calibration = _check(doc, "get", "/calibration", client.get("/calibration", headers=REX))
    assert [c["judge_version"] for c in calibration] == ["pairwise-1:sim"] and calibration[0]["judged_pairs"] == 2
    assert client.get("/calibration").status_code == 401
    page = client.get("/review")
    assert page.status_code == 200 and "pairwise-1:sim" not in page.text  # figures wait for a token
    assert json.loads(page.text.split('id="cfg">')[1].split("</script>")[0]) == {"token_required": True}
