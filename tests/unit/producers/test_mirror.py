from datetime import UTC, datetime, timedelta

from producers.capture import normalize_request, request_hash
from producers.mirror import CaptureConfig, CaptureOutcome, Mirror
from producers.streaming import StreamCapture
from schemas.events import InferenceEvent


class Sink:
    def __init__(self, accept: bool = True) -> None:
        self.events: list[InferenceEvent] = []
        self.accept = accept

    def publish(self, event: InferenceEvent) -> bool:
        self.events.append(event)
        return self.accept


def chat(content: str, **extra) -> dict:
    return {"model": "gpt-4", "messages": [{"role": "user", "content": content}], **extra}


def answer(text: str) -> dict:
    return {"model": "gpt-4-0613", "choices": [{"message": {"role": "assistant", "content": text},
                                                "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2}}


def test_request_hash_ignores_key_order_and_stream_flag() -> None:
    a, _ = normalize_request("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                      "temperature": 0, "stream": True})
    b, _ = normalize_request("chat", {"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "m"})
    c, _ = normalize_request("chat", {"model": "m", "messages": [{"role": "user", "content": "hi!"}]})
    assert request_hash(a) == request_hash(b) != request_hash(c)


def test_capture_builds_a_complete_event() -> None:
    sink = Sink()
    mirror = Mirror(CaptureConfig(app="shop", model_rev="r1", model_revs={"gpt-4-0613": "2023-06-13"}), sink)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    result = mirror.capture(chat("hi", temperature=0.2, user="u1"), answer("hello"), route="/v1/chat/completions",
                            ts_request=t0, ts_response=t0 + timedelta(milliseconds=120),
                            headers={"X-Shadow-Tenant": "acme", "x-shadow-tag-index_hash": "ix9"})
    assert result.outcome is CaptureOutcome.PUBLISHED and result.replayable
    event = sink.events[0]
    assert event.event_id == result.event_id and len(event.event_id) == 26
    assert event.app == "shop" and event.tenant == "acme" and event.route == "/v1/chat/completions"
    assert event.production_model == "gpt-4-0613" and event.production_model_rev == "2023-06-13"
    assert event.request.params == {"temperature": 0.2} and event.response.text == "hello"
    assert event.response.usage.prompt_tokens == 5 and event.latency_ms == 120.0
    assert event.tags == {"index_hash": "ix9"}
    assert event.replayable and event.request_hash == request_hash(event.request)


def test_event_ids_sort_by_request_time() -> None:
    sink = Sink()
    mirror = Mirror(CaptureConfig(), sink)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in (3, 1, 2):
        mirror.capture(chat(str(i)), answer("x"), route="/v1/chat/completions", ts_request=t0 + timedelta(seconds=i))
    by_id = sorted(sink.events, key=lambda e: e.event_id)
    assert [e.request.messages[0].content for e in by_id] == ["1", "2", "3"]


def test_side_effects_are_never_replayable() -> None:
    sink = Sink()
    mirror = Mirror(CaptureConfig(side_effect_routes=["/models/refund/predict"]), sink)
    route = "/v1/chat/completions"
    cases = [
        mirror.capture(chat("x", tools=[{"type": "function", "function": {"name": "pay"}}]), answer("a"), route=route),
        mirror.capture({"model": "m", "messages": [{"role": "tool", "content": "ok", "tool_call_id": "1"}]},
                       answer("a"), route=route),
        mirror.capture(chat("x"), answer("a"), route=route, headers={"X-Shadow-No-Replay": "1"}),
        mirror.capture(chat("x"), answer("a"), route=route, headers={"Idempotency-Key": "abc"}),
        mirror.capture({"amount": 5}, {"ok": True}, route="/models/refund/predict"),
        mirror.capture({"amount": 5}, {"ok": True}, route="/models/x/predict", method="DELETE"),
        mirror.capture(chat("x"), {"error": {"message": "boom"}}, route=route, status_code=500),
        mirror.capture(chat("x"), answer("a"), route=route, complete=False),
    ]
    assert all(r.outcome is CaptureOutcome.PUBLISHED for r in cases)
    assert [e.replayable for e in sink.events] == [False] * len(cases)
    assert all(e.not_replayable_reason for e in sink.events)
    ok = mirror.capture(chat("x"), answer("a"), route=route, headers={"X-Shadow-No-Replay": "false"})
    assert ok.replayable


def test_secrets_and_pii_never_reach_the_event() -> None:
    sink = Sink()
    mirror = Mirror(CaptureConfig(secret_fields=["internal_ref"]), sink)
    secret = "sk-live-0123456789abcdefghij"
    request = chat(f"my key is {secret}, mail me at bob@corp.example", metadata={"api_key": "zzz-secret-zzz"},
                   stop=["password: zzz-secret-2"], user="bob@corp.example")
    mirror.capture(request, answer("Sure bob@corp.example, card 4242 4242 4242 4242"), route="/v1/chat/completions",
                   headers={"authorization": f"Bearer {secret}", "cookie": "session=abc123secret",
                            "x-shadow-tag-api-key": "zzz-tag-secret", "x-shadow-tag-team": "ml"},
                   query={"key": "zzz-query-secret"})
    mirror.capture({"features": [1, 2], "internal_ref": "zzz-ref"}, b'{"label": "a", "token": "zzz-resp"}',
                   route="/models/fraud/predict", query={"access_token": "zzz-query-2", "v": "2"})
    wire = "".join(e.model_dump_json() for e in sink.events)
    for leaked in (secret, "zzz-secret-zzz", "zzz-secret-2", "bob@corp.example", "4242 4242", "abc123secret",
                   "zzz-tag-secret", "zzz-query-secret", "zzz-ref", "zzz-resp", "zzz-query-2"):
        assert leaked not in wire, leaked
    chat_event, json_event = sink.events
    assert chat_event.redactions["email"] == 2 and chat_event.redactions["card"] == 1
    assert chat_event.redactions["secret"] >= 2
    assert chat_event.tags["team"] == "ml"
    assert json_event.request.params["query"] == {"access_token": "[REDACTED]", "v": "2"}
    assert json_event.request.kind == "json" and json_event.production_model == "fraud"


def test_sampling_out_publishes_nothing_and_a_full_buffer_is_a_drop() -> None:
    sink = Sink()
    mirror = Mirror(CaptureConfig(sample_ratios={"/v1/chat/completions": 0.0}), sink)
    result = mirror.capture(chat("x"), answer("a"), route="/v1/chat/completions")
    assert result.outcome is CaptureOutcome.SAMPLED_OUT and not sink.events
    full = Mirror(CaptureConfig(), Sink(accept=False))
    assert full.capture(chat("x"), answer("a"), route="/v1/chat/completions").outcome is CaptureOutcome.DROPPED
    assert full.counters.snapshot()["outcomes"] == {"dropped": 1}


def test_garbage_never_raises() -> None:
    mirror = Mirror(CaptureConfig(), Sink())
    for request, response in [(b"\xff\xfe", b"not json"), (None, None), ([1, 2], {"choices": "x"}),
                              ({"messages": "nope"}, {"choices": [None]})]:
        result = mirror.capture(request, response, route="/v1/chat/completions")
        assert result.outcome in (CaptureOutcome.PUBLISHED, CaptureOutcome.FAILED)


def test_stream_capture_assembles_chat_and_completion_streams() -> None:
    stream = StreamCapture(max_bytes=10_000)
    for piece in (b'data: {"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}\n\n',
                  b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}\n',
                  b'\ndata: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],'
                  b'"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\ndata: [DONE]\n\n'):
        stream.feed(piece)
    body, done = stream.assemble()
    assert done and body["choices"][0]["message"]["content"] == "Hello"
    assert body["choices"][0]["finish_reason"] == "stop" and body["usage"]["completion_tokens"] == 2
    small = StreamCapture(max_bytes=10)
    small.feed(b"data: " + b"x" * 20)
    assert small.truncated


def test_a_tenant_that_opted_out_is_never_published() -> None:
    sink = Sink()
    mirror = Mirror(CaptureConfig(opt_out_tenants=["acme"]), sink)
    by_header = mirror.capture(chat("hello"), answer("hi"), route="/v1/chat/completions",
                               headers={"X-Shadow-Tenant": "acme"})
    by_argument = mirror.capture(chat("hello"), answer("hi"), route="/v1/chat/completions", tenant="acme")
    other = mirror.capture(chat("hello"), answer("hi"), route="/v1/chat/completions", tenant="globex")
    assert by_header.outcome == by_argument.outcome == CaptureOutcome.OPTED_OUT
    assert by_header.event_id is None and other.outcome == CaptureOutcome.PUBLISHED
    assert [e.tenant for e in sink.events] == ["globex"]
    assert mirror.counters.snapshot()["outcomes"]["opted_out"] == 2
