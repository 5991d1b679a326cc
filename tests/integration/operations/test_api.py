"""The control API on the real stack: Redis registry and champion, ClickHouse scores, Kafka lag, a sim model.

Every JSON answer is also checked against the app's own OpenAPI document.
"""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from schemas.settings import ChallengerConfig
from shadow_optic.api import create_api
from tests.integration.analytics.synthetic import insert, make_records

pytestmark = pytest.mark.integration
N = 1200


def _check(doc: dict, method: str, path: str, response) -> dict | list:  # noqa: ANN001 - httpx.Response
    """The body validates against the schema the OpenAPI document gives for this path and status."""
    from jsonschema import Draft202012Validator

    operation = doc["paths"][path][method]
    schema = operation["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    body = response.json()
    Draft202012Validator({**schema, "components": doc["components"]}).validate(body)
    return body


@pytest.fixture
def api(pipeline_settings, clickhouse, processes):
    settings = pipeline_settings.model_copy(update={"champion_key_prefix": f"champ-{uuid.uuid4().hex[:8]}"})
    app = settings.app_name
    insert(clickhouse, make_records(app, "control", N, seed=2, control=True, cost=0.002))
    # "worse" is only further from production here (no judge): the API must call it different, not worse.
    insert(clickhouse, make_records(app, "worse", N, seed=1, shift=-0.15, cost=0.0008))
    insert(clickhouse, make_records(app, "better-cheap", N, seed=3, shift=0.05, cost=0.0005))
    insert(clickhouse, make_records(app, "better-pricey", N, seed=4, shift=0.05, cost=0.0015))
    sim_url, _ = processes.sim_model(settings, "sim-small")
    api = create_api(settings)
    with TestClient(api) as client:
        yield client, api.openapi(), sim_url


def test_status_comparison_and_read_endpoints(api):
    client, doc, _ = api
    health = _check(doc, "get", "/healthz", client.get("/healthz"))
    assert health["status"] == "ok"

    status = _check(doc, "get", "/status", client.get("/status"))  # lag read from the real broker
    rows = {c["name"]: c for c in status["challengers"]}
    assert {"control", "worse", "better-cheap", "better-pricey"} <= set(rows)
    assert rows["control"]["control"] and rows["better-cheap"]["verdict"] == "promote", status["lag"]["error"]
    assert rows["better-cheap"]["progress"]["samples"] == N and status["lag"]["total_lag"] == 0
    assert status["recommended"] == "better-cheap" and status["champion"]["champion"] is None

    report = _check(doc, "get", "/comparison", client.get("/comparison", params={"lag_check": False}))
    # No judge here: further from production than production is from itself is "different", never worse.
    assert {v["challenger"]: v["verdict"] for v in report["verdicts"]}["worse"] == "manual_review"
    one = _check(doc, "get", "/challengers/{name}/comparison", client.get("/challengers/worse/comparison"))
    assert one["equivalence"]["outcome"] == "different" and one["quality_source"] == "none"
    assert "no quality signal configured" in one["explanation"][0]
    missing = _check(doc, "get", "/challengers/{name}/comparison", client.get("/challengers/nope/comparison"))
    assert missing["error"] == "NotFound" and "nope" in missing["message"]

    costs = _check(doc, "get", "/costs", client.get("/costs", params={"top": 3}))
    assert len(costs["top_expensive"]) == 3 and {c["challenger"] for c in costs["summary"]} >= {"worse"}
    ready = _check(doc, "get", "/readiness", client.get("/readiness"))
    assert {r["challenger"] for r in ready} == {"worse", "better-cheap", "better-pricey"}
    drift = _check(doc, "get", "/drift", client.get("/drift", params={"minutes": 360, "challenger": "worse"}))
    assert drift and {w["challenger"] for w in drift} == {"worse"} and sum(w["rows"] for w in drift) == N
    lag = _check(doc, "get", "/lag", client.get("/lag"))
    assert lag[0]["group"] == client.app.state.api.settings.consumer_group

    bad = _check(doc, "get", "/drift", client.get("/drift", params={"minutes": 0}))
    assert bad["error"] == "ValidationError" and "minutes" in bad["message"]


def test_deploy_health_test_call_and_remove(api):
    client, doc, sim_url = api
    config = {"name": "sim-small", "base_url": sim_url, "model": "sim-small", "timeout_s": 10}
    created = client.post("/challengers", json=config)
    assert created.status_code == 201 and _check(doc, "post", "/challengers", created)["replaced"] is False
    again = client.post("/challengers", json={**config, "timeout_s": 5})
    assert again.status_code == 200 and again.json()["replaced"] is True
    listed = _check(doc, "get", "/challengers", client.get("/challengers"))
    assert [c["timeout_s"] for c in listed if c["name"] == "sim-small"] == [5.0]

    health = _check(doc, "get", "/challengers/{name}/health", client.get("/challengers/sim-small/health"))
    assert health["reachable"] is True and health["probe_status"] == 200 and health["health"] == "idle"

    answer = _check(doc, "post", "/challengers/{name}/test",
                    client.post("/challengers/sim-small/test", json={"prompt": "What is the capital of France?"}))
    assert answer["status"] == "ok" and answer["text"] and answer["attempts"] == 1

    invalid = client.post("/challengers", json={"name": "bad name!", "base_url": "x", "model": "m"})
    assert invalid.status_code == 422 and _check(doc, "post", "/challengers", invalid)["error"] == "ValidationError"

    removed = _check(doc, "delete", "/challengers/{name}", client.delete("/challengers/sim-small"))
    assert removed["removed"] is True
    gone = client.delete("/challengers/sim-small")
    assert gone.status_code == 404 and _check(doc, "delete", "/challengers/{name}", gone)["error"] == "NotFound"
    down = client.post("/challengers", json={"name": "dead", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert down.status_code == 201
    dead = _check(doc, "get", "/challengers/health", client.get("/challengers/health"))
    assert {h["challenger"]: h["health"] for h in dead}["dead"] == "down"


def test_promote_rollback_and_history(api):
    client, doc, _ = api
    refused = _check(doc, "post", "/promote", client.post("/promote", json={"challenger": "worse", "lag_check": False}))
    assert refused["done"] is False and "refused" in refused["reason"]
    done = _check(doc, "post", "/promote", client.post("/promote", json={"lag_check": False}))
    assert done["done"] and done["champion"]["champion"] == "better-cheap"
    assert done["champion"]["previous"] == "production"
    to_production = _check(doc, "post", "/rollback", client.post("/rollback", json={}))  # after the first promotion
    assert to_production["champion"]["champion"] == "production"
    assert to_production["champion"]["previous"] == "better-cheap"
    client.post("/promote", json={"challenger": "better-cheap", "lag_check": False})
    client.post("/promote", json={"challenger": "better-pricey", "lag_check": False})
    back = _check(doc, "post", "/rollback", client.post("/rollback", json={"reason": "test"}))
    assert back["champion"]["champion"] == "better-cheap" and back["champion"]["previous"] == "better-pricey"
    history = _check(doc, "get", "/history", client.get("/history", params={"kind": "promote"}))
    assert [h["challenger"] for h in history] == ["better-pricey", "better-cheap", "better-cheap", "worse"]
    status = client.get("/status", params={"lag_check": False}).json()
    assert status["champion"]["champion"] == "better-cheap" and status["lag"] is None


def test_a_configured_challenger_removed_or_changed_at_run_time_stays_so(pipeline_settings, clickhouse):
    configured = [{"name": "cfg-a", "base_url": "http://127.0.0.1:9/v1", "model": "a"},
                  {"name": "cfg-b", "base_url": "http://127.0.0.1:9/v1", "model": "b"}]
    settings = pipeline_settings.model_copy(update={"challengers": [ChallengerConfig(**c) for c in configured]})
    with TestClient(create_api(settings)) as client:
        state = client.app.state.api
        listed = client.get("/challengers").json()
        assert [c["name"] for c in listed] == ["cfg-a", "cfg-b"]
        assert client.portal.call(state.challengers.version) == 0  # a GET wrote nothing
        assert client.delete("/challengers/cfg-a").status_code == 200
        changed = client.post("/challengers", json={**configured[1], "timeout_s": 4})
        assert changed.status_code == 200 and changed.json()["replaced"] is True
        for _ in range(2):  # later reads and writes do not bring the configuration back
            assert [(c["name"], c["timeout_s"]) for c in client.get("/challengers").json()] == [("cfg-b", 4.0)]
        # A host nobody named at start (SHADOW_CHALLENGER_ALLOWED_HOSTS unset): refused, the registry untouched.
        outside = client.post("/challengers", json={"name": "run-x", "base_url": "http://x/v1", "model": "c"})
        assert outside.status_code == 400 and "outside the allowed hosts" in outside.json()["message"]
        assert client.post("/challengers", json={"name": "run-c", "base_url": "http://127.0.0.1:9/v1", "model": "c"}
                           ).status_code == 201
        assert [c["name"] for c in client.get("/challengers").json()] == ["cfg-b", "run-c"]
