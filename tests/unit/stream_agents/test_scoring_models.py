"""Embeddings, the LLM judge and the async Scorer, against httpx.MockTransport (no services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from schemas.errors import ConfigError
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, ShadowResult, ShadowStatus
from schemas.settings import ModelPrice, Settings
from stream_agents.scoring import (
    SCORER_VERSION,
    EmbeddingCache,
    EmbeddingError,
    EmbeddingSimilarity,
    HashingEmbedder,
    HttpEmbedder,
    LLMJudge,
    LocalEmbedder,
    Scorer,
    parse_verdict,
    score_result,
)
from stream_agents.scoring.embeddings import split_chunks
from stream_agents.scoring.judge import build_messages, challenger_slot


class FakeRedis:
    """mget / pipeline().set / execute: the subset EmbeddingCache uses, in memory."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttl: dict[str, int] = {}

    async def mget(self, keys):
        return [self.data.get(k) for k in keys]

    def pipeline(self, transaction: bool = True):
        store = self

        class Pipe:
            async def __aenter__(self):
                self.ops = []
                return self

            async def __aexit__(self, *exc):
                return None

            def set(self, key, value, ex=None):
                self.ops.append((key, value, ex))

            async def execute(self):
                for key, value, ex in self.ops:
                    store.data[key], store.ttl[key] = value, ex

        return Pipe()


def _embedding_server(calls: list[list[str]], dim: int = 8):
    hashing = HashingEmbedder(dim)

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        calls.append(body["input"])
        data = [{"index": i, "embedding": hashing.encode_one(t).tolist()} for i, t in enumerate(body["input"])]
        return httpx.Response(200, json={"data": list(reversed(data)), "model": body["model"]})  # order by index

    return handler


async def test_http_embeddings_batch_order_and_cache_by_content_hash() -> None:
    calls: list[list[str]] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(_embedding_server(calls))) as http:
        embedder = HttpEmbedder(http, "http://emb/v1", "m", batch_size=2)
        redis = FakeRedis()
        sim = EmbeddingSimilarity(embedder, EmbeddingCache(redis, prefix="p", ttl_s=60), chunk_chars=0)
        pairs = [("the cat sat", "the cat sat"), ("the cat sat", "stock prices fell"), ("x", "y")]
        scores = await sim.score_pairs(pairs)
        assert [len(c) for c in calls] == [2, 2]  # 4 distinct texts, batches of 2
        assert scores[0].value == 1.0 and scores[0].method == "embedding:m"
        assert scores[1].value < 0.5 and set(scores[1].components) == {"cosine", "lexical"}
        assert all(k.startswith("p:emb:m:c0:") and len(k.split(":")[-1]) == 64 for k in redis.data)
        assert set(redis.ttl.values()) == {60}
        again = await sim.score_pairs(pairs)  # every text now comes from the cache
        assert len(calls) == 2 and sim.cache_hits == 4
        assert [s.value for s in again] == pytest.approx([s.value for s in scores], abs=1e-6)


async def test_embedding_endpoint_failures_are_retriable_errors() -> None:
    def fail(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, text="overloaded")

    def short(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [1.0, 0.0]}]})

    for handler, message in ((fail, "HTTP 503"), (short, "1 vectors for 2 inputs")):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            with pytest.raises(EmbeddingError, match=message) as info:
                await HttpEmbedder(http, "http://emb/v1", "m").embed(["a", "b"])
            assert info.value.retriable


def test_chunks_cut_at_whitespace_and_keep_all_text() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    chunks = split_chunks(text, 200)
    assert all(len(c) <= 200 for c in chunks) and len(chunks) > 5
    assert " ".join(chunks).split() == text.split()
    assert split_chunks("short", 200) == ["short"] and split_chunks(text, 0) == [text]


async def test_hashing_embedding_is_deterministic_and_empty_text_scores_zero() -> None:
    a, b = HashingEmbedder().encode(["The cat sleeps.", "The cat sleeps."])
    assert np.array_equal(a, b) and float(np.linalg.norm(a)) == pytest.approx(1.0, abs=1e-5)
    sim = EmbeddingSimilarity(HashingEmbedder())
    empty, both_empty = await sim.score_pairs([("something", ""), ("", " ")])
    assert empty.value == 0.0 and both_empty.value == 1.0


# --- judge --------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"answer_1": {"faithfulness": 4, "quality": 5, "conciseness": 3, "refusal": false},'
    ' "answer_2": {"faithfulness": 2, "quality": "2/5", "conciseness": 5, "refusal": "yes"}}',
    'Sure! ```json\n{"Answer 1": {"Faithfulness": 4, "Quality": 5, "Conciseness": 3, "refusal": false}, '
    '"Answer 2": {"faithfulness": 2, "quality": 2, "conciseness": 5, "refusal": true}}\n```',
    "Answer 1: faithfulness: 4, quality: 5, conciseness: 3, refusal: no\n"
    "Answer 2: faithfulness 2; quality 2; conciseness 5; refusal: yes",
])
def test_verdicts_parse_from_json_fences_or_plain_lines(text: str) -> None:
    v = parse_verdict(text)
    assert v is not None
    assert (v["1"]["faithfulness"], v["1"]["quality"], v["1"]["conciseness"], v["1"]["refusal"]) == (4, 5, 3, False)
    assert (v["2"]["quality"], v["2"]["refusal"]) == (2, True)


def test_out_of_scale_or_empty_verdicts_are_not_used() -> None:
    assert parse_verdict("I cannot evaluate this.") is None
    v = parse_verdict('{"answer_1": {"faithfulness": 9, "quality": 4}, "answer_2": {"quality": 0}}')
    assert v is not None and v["1"]["faithfulness"] is None and v["1"]["quality"] == 4
    assert v["2"]["quality"] is None


def test_the_prompt_never_says_which_answer_is_production() -> None:
    messages = build_messages("q?", "first answer", "second answer")
    text = messages[1]["content"].lower()
    assert "production" not in text and "challenger" not in text
    assert text.index("first answer") < text.index("second answer")
    slots = {challenger_slot(f"e{i}", "c", 0, 0) for i in range(20)}
    assert slots == {"1", "2"}  # drawn per event
    assert challenger_slot("e1", "c", 0, 0) != challenger_slot("e1", "c", 0, 1)  # repeats alternate


def _biased_judge(seen: list[str]):
    """A judge with pure position bias: Answer 1 always gets 5, Answer 2 always 3."""
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content)["messages"][1]["content"])
        verdict = {"answer_1": {"faithfulness": 5, "quality": 5, "conciseness": 5, "refusal": False},
                   "answer_2": {"faithfulness": 3, "quality": 3, "conciseness": 3, "refusal": False}}
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(verdict)}}],
                                         "usage": {"prompt_tokens": 1000, "completion_tokens": 100}})
    return handler


async def test_repeats_alternate_the_order_so_position_bias_shows_as_noise() -> None:
    seen: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(_biased_judge(seen))) as http:
        judge = LLMJudge(http, "http://judge/v1", "j", repeats=2, rate_per_s=1000, burst=10)
        scores = await judge.judge("q", "PRODUCTION TEXT", "CHALLENGER TEXT", "e1", "c")
    assert scores is not None and scores.repeats == 2
    assert scores.quality == pytest.approx(0.75)  # (1.0 + 0.5) / 2: the bias cancels in the mean
    assert scores.quality_production == pytest.approx(0.75)
    assert scores.noise == pytest.approx(0.25)  # and shows as the judge's own noise
    firsts = {("CHALLENGER" if s.index("CHALLENGER TEXT") < s.index("PRODUCTION TEXT") else "PRODUCTION") for s in seen}
    assert firsts == {"CHALLENGER", "PRODUCTION"}


async def test_the_judge_stops_at_its_budget_and_survives_bad_replies() -> None:
    seen: list[str] = []
    async with httpx.AsyncClient(transport=httpx.MockTransport(_biased_judge(seen))) as http:
        judge = LLMJudge(http, "http://judge/v1", "j", rate_per_s=1000, burst=10, budget_usd=0.015,
                         price=ModelPrice(input_per_1k=0.01, output_per_1k=0.03))
        assert await judge.judge("q", "p", "c", "e1", "c") is not None  # costs 0.013
        assert await judge.judge("q", "p", "c", "e2", "c") is not None  # 0.026: now over
        assert await judge.judge("q", "p", "c", "e3", "c") is None
    assert judge.calls == 2 and judge.skipped_budget == 1 and judge.spent_usd == pytest.approx(0.026)

    async with httpx.AsyncClient(transport=httpx.MockTransport(
            lambda r: httpx.Response(200, json={"choices": [{"message": {"content": "no idea"}}]}))) as http:
        judge = LLMJudge(http, "http://judge/v1", "j", rate_per_s=1000)
        assert await judge.judge("q", "p", "c", "e1", "c") is None and judge.failures == 1


# --- Scorer -------------------------------------------------------------------

def _result(event_id: str, production: str, challenger: str) -> ShadowResult:
    now = datetime.now(UTC)
    event = InferenceEvent(event_id=event_id, route="/r", ts_request=now, ts_response=now, production_model="gpt-4",
                           request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content="q")]),
                           response=CapturedResponse(status_code=200, text=production), latency_ms=10.0,
                           request_hash="h")
    return ShadowResult(event=event, challenger="c", challenger_model="m", status=ShadowStatus.OK,
                        response_text=challenger, latency_ms=5.0, ts_called=now)


async def test_the_default_scorer_opens_nothing_and_equals_score_result() -> None:
    result = _result("e1", "The cat sat on the mat.", "A cat sat on a mat.")
    async with Scorer(Settings()) as scorer:
        assert scorer.embeddings is None and scorer.judge is None and scorer.version == SCORER_VERSION
        record = await scorer.score(result, ModelPrice())
    expected = score_result(result, ModelPrice(), answers_max_chars=Settings().answers_max_chars)
    assert record.model_dump(exclude={"ts_scored"}) == expected.model_dump(exclude={"ts_scored"})
    # The texts travel with the record for shadow_answers, as captured.
    assert record.answers is not None and record.answers.request == "### user\nq"
    assert (record.answers.production_answer, record.answers.challenger_answer) == (
        "The cat sat on the mat.", "A cat sat on a mat.")


async def test_no_answers_travel_when_they_are_not_stored() -> None:
    result = _result("e1", "The cat sat on the mat.", "A cat sat on a mat.")
    async with Scorer(Settings(answers_ttl_days=0)) as scorer:
        record = await scorer.score(result, ModelPrice())
    assert record.answers is None


async def test_scorer_with_embeddings_and_judge_from_settings() -> None:
    calls: list[list[str]] = []
    seen: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/embeddings"):
            return _embedding_server(calls)(request)
        return _biased_judge(seen)(request)

    settings = Settings(similarity_method="embedding", embedding_base_url="http://emb/v1", embedding_model="e5",
                        judge_base_url="http://judge/v1", judge_model="jm", judge_mode="rubric", judge_rps=1000,
                        judge_burst=10)
    results = [_result(f"e{i}", "The cat sat on the mat.", "A cat sat on a mat.") for i in range(3)]
    async with httpx.AsyncClient(transport=httpx.MockTransport(route)) as http:
        async with Scorer(settings, http=http) as scorer:
            records = await scorer.score_batch(results, [ModelPrice()] * 3)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(["The cat sat on the mat.", "A cat sat on a mat."])
    assert len(seen) == 3
    for record in records:
        assert not isinstance(record, Exception)
        assert record.similarity_method == "embedding:e5" and 0 < record.similarity <= 1
        judgment = record.judgment
        assert judgment.judge_version == "judge-1:jm" and judgment.quality in (0.5, 1.0)
        assert judgment.faithfulness is not None and judgment.score is None  # rubric: no win/loss
        assert record.scorer_version == "record-2+structured-1+embedding-1:e5:c1000"  # a judge does not split it


async def test_the_pairwise_scorer_judges_both_orders_skips_the_control_and_empty_answers() -> None:
    prompts: list[str] = []

    def judge(request: httpx.Request) -> httpx.Response:
        import json

        from stream_agents.scoring.pairwise import split_pairwise_prompt
        turns, a, b = split_pairwise_prompt(json.loads(request.content)["messages"][1]["content"])
        prompts.append(a)
        winner = "A" if a == "better answer" else "B"  # always prefers the challenger's text
        return httpx.Response(200, json={"choices": [{"message": {"content": f'{{"winner": "{winner}"}}'}}]})

    settings = Settings(judge_base_url="http://judge/v1", judge_model="jm", judge_rps=1000, judge_burst=10)
    judged = _result("e1", "an answer", "better answer")
    control = _result("e2", "an answer", "an answer again").model_copy(update={"is_control": True})
    empty = _result("e3", "an answer", "")
    async with httpx.AsyncClient(transport=httpx.MockTransport(judge)) as http:
        async with Scorer(settings, http=http) as scorer:
            records = await scorer.score_batch([judged, control, empty], [ModelPrice()] * 3)
    assert sorted(prompts) == ["an answer", "better answer"]  # one pair, in both orders
    assert records[0].judgment.score == 1.0 and records[0].judgment.judge_version == "pairwise-1:jm"
    assert records[0].judgment.length_ratio == pytest.approx(len("better answer") / len("an answer"))
    assert records[1].judgment is None  # the control measures the noise floor and is never judged
    assert records[2].judgment.status == "not_judged" and "empty" in records[2].judgment.reason


def test_bad_scoring_settings_fail_with_the_variable_named() -> None:
    with pytest.raises(ConfigError, match="SHADOW_SIMILARITY_METHOD"):
        Scorer(Settings(), method="bogus")


async def test_the_http_provider_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="SHADOW_EMBEDDING_BASE_URL"):
        async with Scorer(Settings(similarity_method="embedding")):
            pass


@pytest.mark.local_embeddings
async def test_local_model_ranks_a_paraphrase_above_an_unrelated_sentence() -> None:
    sim = EmbeddingSimilarity(LocalEmbedder())
    para, unrelated = await sim.score_pairs([("A man is playing a guitar.", "Someone plays the guitar."),
                                             ("A man is playing a guitar.", "Interest rates rose in March.")])
    assert para.value > unrelated.value + 0.3
    assert para.method == "embedding:all-MiniLM-L6-v2"
