import json

import httpx
import pytest
from starlette.testclient import TestClient

from producers.gateway import create_gateway
from schemas.settings import Settings
from tests.unit.producers.conftest import RecordingPublisher

CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "world"}]}


def settings(**extra) -> Settings:
    return Settings(production_url="http://upstream/v1", app_name="unit", max_body_bytes=4096,
                    gateway_json_models={"fraud": "http://upstream/classify"},
                    gateway_json_routes={"/score": "http://upstream/classify"}, **extra)


def gateway(cfg: Settings, recording: RecordingPublisher, transport: httpx.AsyncBaseTransport):
    """The gateway; reading `recording.events` waits for its capture thread to be idle."""
    app = create_gateway(cfg, recording, transport=transport)
    recording.capture_queue = app.state.capture_queue
    return app


@pytest.fixture
def client(recording: RecordingPublisher, transport: httpx.ASGITransport):
    with TestClient(gateway(settings(), recording, transport=transport)) as test_client:
        yield test_client


def test_chat_answer_passes_unchanged_and_is_mirrored(client, recording, upstream) -> None:
    response = client.post("/v1/chat/completions?api-version=2", json=CHAT,
                           headers={"authorization": "Bearer sk-user-0123456789abcdefgh", "x-shadow-tenant": "t1"})
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Hello world"
    assert response.headers["x-upstream"] == "yes"
    seen = upstream.state.seen[-1]
    assert seen["headers"]["authorization"] == "Bearer sk-user-0123456789abcdefgh"  # the caller's key goes upstream
    assert "x-shadow-tenant" not in seen["headers"] and seen["query"] == "api-version=2"
    (event,) = recording.events
    assert event.response.text == "Hello world" and event.tenant == "t1" and event.replayable
    assert event.production_model == "up-model" and event.tags == {"system_fingerprint": "fp_1"}
    assert "sk-user" not in event.model_dump_json()


def test_streaming_is_relayed_chunk_by_chunk_and_captured_at_the_end(client, recording) -> None:
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = b"".join(response.iter_raw())
    pieces = [json.loads(line[6:]) for line in raw.decode().splitlines()
              if line.startswith("data: {")]
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in pieces) == "Hello world "
    assert raw.endswith(b"data: [DONE]\n\n")
    (event,) = recording.events
    assert event.request.stream and event.response.text == "Hello world "
    assert event.response.finish_reason == "stop" and event.response.usage.completion_tokens == 4
    assert event.ttft_ms is not None and event.replayable


def test_upstream_errors_come_back_unchanged(client, recording) -> None:
    response = client.post("/v1/chat/completions", json={**CHAT, "model": "broken"})
    assert response.status_code == 503 and response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"] == "model overloaded"
    assert recording.events[0].replayable is False


def test_completions_embeddings_and_models(client, recording) -> None:
    assert client.post("/v1/completions", json={"model": "m", "prompt": "p"}).json()["choices"][0]["text"] == "done: p"
    assert len(client.post("/v1/embeddings", json={"model": "e", "input": ["a", "b"]}).json()["data"]) == 2
    assert client.get("/v1/models").json()["data"][0]["id"] == "up-model"
    kinds = [(e.request.kind, e.route) for e in recording.events]
    assert kinds == [("completion", "/v1/completions"), ("embedding", "/v1/embeddings")]
    assert recording.events[0].request.prompt == "p" and recording.events[0].response.finish_reason == "length"
    assert recording.events[1].request.params == {"input": ["a", "b"]}


def test_json_model_routes(client, recording) -> None:
    assert client.post("/models/fraud/predict", json={"amount": 5}).json()["label"] == "approve"
    assert client.put("/score", json={"amount": 500}).json()["label"] == "reject"
    missing = client.post("/models/nope/predict", json={})
    assert missing.status_code == 404 and "fraud" in missing.json()["error"]["message"]
    first, second = recording.events
    assert first.request.kind == "json" and first.route == "/models/fraud/predict" and first.replayable
    assert json.loads(first.response.text)["label"] == "approve"
    assert second.replayable is False and "PUT" in second.not_replayable_reason


@pytest.mark.parametrize("kwargs, status, code", [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
    ({"content": b"a=b", "headers": {"content-type": "application/x-www-form-urlencoded"}}, 415,
     "unsupported_media_type"),
    ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 400, "invalid_json"),
    ({"content": b'{"x": "' + b"y" * 5000 + b'"}', "headers": {"content-type": "application/json"}}, 413,
     "request_too_large"),
])
def test_bad_input_is_a_clear_openai_error(client, recording, kwargs, status, code) -> None:
    response = client.post("/v1/chat/completions", **kwargs)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    assert not recording.events


def test_unknown_routes_and_methods(client) -> None:
    assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"
    assert client.get("/v1/chat/completions").status_code == 405


def test_unreachable_upstream_is_a_502(recording) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with TestClient(gateway(settings(), recording, transport=httpx.MockTransport(refuse))) as client:
        response = client.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 502 and response.json()["error"]["type"] == "upstream_error"


def test_metrics_count_requests_published_and_redactions(client, recording) -> None:
    client.post("/v1/chat/completions", json={**CHAT, "messages": [{"role": "user", "content": "me@x.org"}]})
    assert len(recording.events) == 1  # waits for the capture thread
    page = client.get("/metrics").text
    assert 'shadow_gateway_requests_total{route="/v1/chat/completions",status="200"} 1.0' in page
    assert "shadow_gateway_published_total 1.0" in page
    assert 'shadow_gateway_redactions_total{kind="email"} 2.0' in page
    assert "shadow_gateway_upstream_seconds_count" in page


def test_sampling_per_route_from_settings(recording, transport) -> None:
    cfg = settings(gateway_sample_ratios={"/v1/chat/completions": 0.0})
    with TestClient(gateway(cfg, recording, transport=transport)) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.post("/v1/completions", json={"model": "m", "prompt": "p"}).status_code == 200
        assert recording.capture_queue.wait_idle()
        assert "shadow_gateway_sampled_out_total 1.0" in client.get("/metrics").text
    assert [e.route for e in recording.events] == ["/v1/completions"]


def test_mirror_cap_drops_and_counts_over_the_cap_per_route(recording, transport) -> None:
    cfg = settings(gateway_mirror_max_per_s_routes={"/v1/chat/completions": 1})
    with TestClient(gateway(cfg, recording, transport=transport)) as client:
        for _ in range(3):
            assert client.post("/v1/chat/completions", json=CHAT).status_code == 200  # answered, never delayed
        assert client.post("/v1/completions", json={"model": "m", "prompt": "p"}).status_code == 200  # uncapped
        assert recording.capture_queue.wait_idle()
        page = client.get("/metrics").text
        health = client.get("/healthz").json()
    chat = [e for e in recording.events if e.route == "/v1/chat/completions"]
    capped = health["capture"]["capped"]["/v1/chat/completions"]
    assert capped >= 1 and len(chat) + capped == 3  # 1 per second: two seconds at most in this test
    assert f'shadow_gateway_capped_total{{route="/v1/chat/completions"}} {float(capped)}' in page
    assert [e.route for e in recording.events if e.route != "/v1/chat/completions"] == ["/v1/completions"]


def test_capture_queue_off_captures_on_the_loop(recording, transport) -> None:
    with TestClient(gateway(settings(gateway_capture_queue=0), recording, transport=transport)) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
    assert recording.capture_queue is None and len(recording.events) == 1
