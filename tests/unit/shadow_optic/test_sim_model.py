import json
from collections import Counter

import pytest
from starlette.testclient import TestClient

from producers.redaction import Redactor
from schemas.events import ChatMessage, NormalizedRequest
from shadow_optic.data_files import data_file
from shadow_optic.recordings import load_answers, load_scenario_answers
from shadow_optic.sim_model import REFUSAL_TEXT, SimModelConfig, create_sim_model
from stream_agents.scoring.pairwise import CUT_MARK, build_pairwise_messages, render_conversation

UPGRADE = data_file("scenario_upgrade_davinci.jsonl")
PAIRS = data_file("paired_responses.jsonl")
PHONE_ROW = "alpaca_eval:selfinstruct:0708"  # a phone number in the prompt: the gateway masks it


@pytest.fixture
def answers_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"prompt": "What is 2+2?", "production_response": "4", "challenger_response": "four"},
            {"prompt": "Name a colour", "production_response": "Blue", "challenger_response": "Red"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _ask(client: TestClient, prompt: str, **extra) -> dict:
    response = client.post("/v1/chat/completions", json={"model": "x", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": prompt}], **extra})
    return {"status": response.status_code, "body": response.json() if not extra.get("stream") else response.text}


def test_recorded_answers_are_returned_by_prompt_for_the_chosen_field(answers_file):
    production = TestClient(create_sim_model(SimModelConfig(answers_file=answers_file)))
    challenger = TestClient(create_sim_model(SimModelConfig(answers_file=answers_file,
                                                            answer_field="challenger_response", model="ch")))
    assert _ask(production, "What is 2+2?")["body"]["choices"][0]["message"]["content"] == "4"
    reply = _ask(challenger, "What is 2+2?")["body"]
    assert reply["choices"][0]["message"]["content"] == "four"
    assert reply["model"] == "ch"
    assert reply["usage"]["completion_tokens"] >= 1


def test_an_unknown_prompt_is_a_404_never_an_invented_answer_and_is_counted(answers_file):
    client = TestClient(create_sim_model(SimModelConfig(answers_file=answers_file)))
    reply = _ask(client, "never recorded")
    assert reply["status"] == 404
    assert reply["body"]["error"]["message"] == "no recorded answer for this prompt: 'never recorded'"
    assert reply["body"]["error"]["type"] == "invalid_request_error"
    completion = client.post("/v1/completions", json={"model": "x", "prompt": "x" * 100})
    assert completion.status_code == 404
    assert completion.json()["error"]["message"].endswith(repr("x" * 60))  # the first 60 characters
    assert client.get("/healthz").json()["unknown_prompts"] == 2


def test_without_recorded_answers_every_answer_is_synthetic():
    client = TestClient(create_sim_model(SimModelConfig(model="syn")))
    text = _ask(client, "never recorded")["body"]["choices"][0]["message"]["content"]
    assert text == "A synthetic answer from syn to: never recorded"
    assert client.get("/healthz").json()["unknown_prompts"] == 0


def test_error_and_refusal_rates_are_reproducible_with_a_seed():
    def run() -> list[int | str]:
        client = TestClient(create_sim_model(SimModelConfig(error_rate=0.3, refusal_rate=0.3, seed=11)))
        outcomes = []
        for i in range(40):
            reply = _ask(client, f"q{i}")
            outcomes.append(reply["status"] if reply["status"] != 200
                            else reply["body"]["choices"][0]["message"]["content"] == REFUSAL_TEXT)
        return outcomes

    first = run()
    assert first == run()
    assert 500 in first and True in first and False in first


def test_streaming_sends_chunks_that_add_up_to_the_answer(answers_file):
    client = TestClient(create_sim_model(SimModelConfig(answers_file=answers_file)))
    body = _ask(client, "Name a colour", stream=True)["body"]
    chunks = [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: {")]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Blue"
    assert body.rstrip().endswith("data: [DONE]")


def test_a_malformed_answers_file_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "production_response": "b"}\n{"prompt": "c"}\n')
    with pytest.raises(ValueError, match=":2"):
        load_answers(path, "prompt", "production_response")


# --- recorded answers and the recorded judge on the real data (data/README.md) -------------------

def _rows(path=UPGRADE) -> dict[str, dict]:
    with open(path, encoding="utf-8") as handle:
        return {row["id"]: row for row in map(json.loads, handle)}


def _gateway_mask(text: str) -> str:
    return Redactor().text(text, Counter())  # the gateway's default masking


def _challenger(row: dict, model: str) -> dict:
    return next(c for c in row["challengers"] if c["model"] == model)


def _judge(client: TestClient, prompt: str, answer_a: str, answer_b: str, max_chars: int = 6000):
    conversation = render_conversation(NormalizedRequest(model="judge", messages=[
        ChatMessage(role="user", content=_gateway_mask(prompt))]))
    messages = build_pairwise_messages(conversation, _gateway_mask(answer_a), _gateway_mask(answer_b), max_chars)
    response = client.post("/v1/chat/completions", json={"model": "judge", "temperature": 0.0, "messages": messages})
    if response.status_code != 200:
        return response.status_code, response.json()["error"]["message"]
    body = response.json()
    assert body["usage"]["prompt_tokens"] >= sum(len(m["content"]) for m in messages) // 4  # judge spend counts
    return 200, json.loads(body["choices"][0]["message"]["content"])["winner"]


@pytest.fixture(scope="module")
def judge_client() -> TestClient:
    return TestClient(create_sim_model(SimModelConfig(judge_file=UPGRADE, model="recorded-judge")))


def test_masking_twice_changes_nothing_more():
    prompt = _rows()[PHONE_ROW]["prompt"]
    once = _gateway_mask(prompt)
    assert "[PHONE]" in once and once != prompt
    assert _gateway_mask(once) == once


def test_the_recorded_judge_answers_for_the_order_shown(judge_client):
    row = _rows()["alpaca_eval:helpful_base:0005"]
    gpt4 = _challenger(row, "gpt-4")
    assert gpt4["judge"]["preferred"] == "challenger"
    production = row["production"]["response"]
    assert _judge(judge_client, row["prompt"], gpt4["response"], production) == (200, "A")
    assert _judge(judge_client, row["prompt"], production, gpt4["response"]) == (200, "B")
    alpaca = _challenger(row, "alpaca-7b")
    assert alpaca["judge"]["preferred"] == "production"
    assert _judge(judge_client, row["prompt"], alpaca["response"], production) == (200, "B")
    assert _judge(judge_client, row["prompt"], production, alpaca["response"]) == (200, "A")


def test_clipped_answers_still_match_their_record(judge_client):
    row = _rows()["alpaca_eval:helpful_base:0005"]
    production, gpt4 = row["production"]["response"], _challenger(row, "gpt-4")["response"]
    assert len(production) > 500 and len(gpt4) > 500
    messages = build_pairwise_messages("### user\n" + row["prompt"], gpt4, production, max_chars=500)
    assert messages[1]["content"].count(CUT_MARK) == 2  # both answers were clipped
    assert _judge(judge_client, row["prompt"], gpt4, production, max_chars=500) == (200, "A")
    assert _judge(judge_client, row["prompt"], production, gpt4, max_chars=500) == (200, "B")


def test_identical_answers_are_a_tie_and_a_pair_without_a_preference_is_a_422(judge_client):
    rows = _rows()
    same = rows["alpaca_eval:koala:0144"]
    assert _challenger(same, "gpt-4")["judge"]["preferred"] == "identical"
    production = same["production"]["response"]
    assert _judge(judge_client, same["prompt"], production, _challenger(same, "gpt-4")["response"]) == (200, "tie")

    before = judge_client.get("/healthz").json()
    none = rows["alpaca_eval:selfinstruct:0658"]
    llama = _challenger(none, "llama-2-70b-chat-hf")
    assert llama["judge"]["preferred"] is None
    for a, b in ((llama["response"], none["production"]["response"]), (none["production"]["response"], llama["response"])):
        status, message = _judge(judge_client, none["prompt"], a, b)
        assert status == 422 and message.startswith("no recorded preference for this pair: ")
    after = judge_client.get("/healthz").json()
    assert after["judge_unknown"] - before["judge_unknown"] == 2
    assert after["judged"] == before["judged"]


def test_production_against_its_control_or_an_empty_answer_has_no_recorded_preference(judge_client):
    rows = _rows()
    row = rows["alpaca_eval:helpful_base:0005"]
    assert row["control"]["response"] != row["production"]["response"]
    status, message = _judge(judge_client, row["prompt"], row["production"]["response"], row["control"]["response"])
    assert status == 422 and "none of them these two answers" in message
    empty = rows["alpaca_eval:selfinstruct:0691"]  # llama-2's answer is empty in the data
    assert _challenger(empty, "llama-2-70b-chat-hf")["response"] == ""
    status, message = _judge(judge_client, empty["prompt"], "", empty["production"]["response"])
    assert status == 422 and "answer A is empty" in message
    status, message = _judge(judge_client, "a prompt nobody recorded", "x", "y")
    assert status == 422 and "no recorded prompt matches 'a prompt nobody recorded'" in message


def test_a_masked_phone_number_still_finds_the_answer_and_the_judgement():
    row = _rows()[PHONE_ROW]
    masked = _gateway_mask(row["prompt"])
    assert masked != row["prompt"]
    production = TestClient(create_sim_model(SimModelConfig(scenario_file=UPGRADE, role="production")))
    for prompt in (row["prompt"], masked):  # the user's request, and the replayed (masked) one
        reply = _ask(production, prompt)
        assert reply["status"] == 200
        assert reply["body"]["choices"][0]["message"]["content"] == row["production"]["response"]
    assert _ask(production, "Call us at (555) 123-4567: not a recorded prompt")["status"] == 404
    pairs = TestClient(create_sim_model(SimModelConfig(answers_file=PAIRS, answer_field="challenger_response")))
    assert _ask(pairs, masked)["body"]["choices"][0]["message"]["content"] == _rows(PAIRS)[PHONE_ROW]["challenger_response"]

    judge = TestClient(create_sim_model(SimModelConfig(judge_file=UPGRADE)))
    falcon = _challenger(row, "falcon-40b-instruct")
    assert falcon["judge"]["preferred"] == "production"
    assert _judge(judge, row["prompt"], falcon["response"], row["production"]["response"]) == (200, "B")
    assert _judge(judge, row["prompt"], row["production"]["response"], falcon["response"]) == (200, "A")
    assert judge.get("/healthz").json()["judged"] == 2


def test_the_recorded_judge_reads_a_pairs_file_too():
    row = next(r for r in _rows(PAIRS).values() if r["rating"]["preferred"] == "challenger")
    judge = TestClient(create_sim_model(SimModelConfig(judge_file=PAIRS)))
    assert _judge(judge, row["prompt"], row["challenger_response"], row["production_response"]) == (200, "A")
    assert _judge(judge, row["prompt"], row["production_response"], row["challenger_response"]) == (200, "B")


def test_scenario_roles_serve_their_own_recorded_answers():
    row = _rows()["alpaca_eval:helpful_base:0005"]
    for role, expected in (("production", row["production"]["response"]), ("control", row["control"]["response"]),
                           ("gpt-4", _challenger(row, "gpt-4")["response"])):
        client = TestClient(create_sim_model(SimModelConfig(scenario_file=UPGRADE, role=role, model=role)))
        assert _ask(client, row["prompt"])["body"]["choices"][0]["message"]["content"] == expected
        assert client.get("/healthz").json()["answers"] == 405
    with pytest.raises(ValueError, match="roles: production, control, alpaca-7b"):
        load_scenario_answers(UPGRADE, "gpt-5")


def test_a_judge_sim_still_answers_ordinary_requests_from_its_answers():
    row = _rows()["alpaca_eval:helpful_base:0005"]
    client = TestClient(create_sim_model(SimModelConfig(scenario_file=UPGRADE, role="gpt-4", judge_file=UPGRADE)))
    assert _ask(client, row["prompt"])["body"]["choices"][0]["message"]["content"] == _challenger(row, "gpt-4")["response"]
    assert _judge(client, row["prompt"], row["production"]["response"], _challenger(row, "gpt-4")["response"]) == (200, "B")


async def test_the_pipelines_pairwise_judge_scores_against_the_recorded_judge():
    import httpx

    from schemas.settings import ModelPrice
    from stream_agents.scoring.judge_limits import LocalJudgeLimits
    from stream_agents.scoring.pairwise import PairwiseJudge

    rows = _rows()
    app = create_sim_model(SimModelConfig(judge_file=UPGRADE, model="recorded-judge"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        judge = PairwiseJudge(http, "http://judge/v1", "recorded-judge", limits=LocalJudgeLimits(1000, 10, None),
                              price=ModelPrice(input_per_1k=0.03, output_per_1k=0.06))

        async def score(row: dict, challenger: str):
            conversation = render_conversation(NormalizedRequest(model="m", messages=[
                ChatMessage(role="user", content=_gateway_mask(row["prompt"]))]))
            return await judge.judge(conversation, _gateway_mask(row["production"]["response"]),
                                     _gateway_mask(challenger))

        better = rows["alpaca_eval:helpful_base:0005"]
        outcome, why, cost = await score(better, _challenger(better, "gpt-4")["response"])
        assert outcome is not None and outcome.score == 1.0 and not outcome.flipped and why == ""
        assert cost > 0  # judge spend is measurable: ~4 characters per token
        phone = rows[PHONE_ROW]
        outcome, _, _ = await score(phone, _challenger(phone, "falcon-40b-instruct")["response"])
        assert outcome is not None and outcome.score == 0.0
        outcome, why, _ = await score(better, better["control"]["response"])
        assert outcome is None and "HTTP 422" in why and "no recorded preference for this pair" in why
