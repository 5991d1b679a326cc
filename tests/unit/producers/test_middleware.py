import json

from starlette.testclient import TestClient

from producers.middleware import ShadowCaptureMiddleware
from producers.mirror import CaptureConfig, Mirror
from tests.unit.producers.conftest import upstream_app
from tests.unit.producers.test_mirror import Sink

CHAT = {"model": "gpt-4", "messages": [{"role": "user", "content": "world"}]}


def test_middleware_captures_plain_and_streamed_answers_and_skips_other_paths() -> None:
    sink = Sink()
    app = ShadowCaptureMiddleware(upstream_app(), Mirror(CaptureConfig(app="own-gw"), sink))
    with TestClient(app) as client:
        assert client.post("/v1/chat/completions?key=zzz-q", json=CHAT,
                           headers={"x-shadow-tenant": "t"}).json()["choices"][0]["message"]["content"] == "Hello world"
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            raw = b"".join(response.iter_raw())
        assert raw.endswith(b"[DONE]\n\n")
        assert client.get("/v1/models").status_code == 200
        assert client.post("/models/x/predict", json={}).status_code == 404  # not served by the app: still mirrored
    plain, streamed, missing = sink.events
    assert plain.app == "own-gw" and plain.tenant == "t" and plain.response.text == "Hello world"
    assert streamed.request.stream and streamed.response.text == "Hello world " and streamed.replayable
    assert streamed.ttft_ms is not None
    assert missing.response.status_code == 404 and missing.replayable is False
    assert "zzz-q" not in "".join(e.model_dump_json() for e in sink.events)
    assert json.loads(plain.model_dump_json())["request"]["messages"][0]["content"] == "world"
