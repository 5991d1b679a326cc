import json

import pytest
from starlette.testclient import TestClient

from shadow_optic.sim_model import REFUSAL_TEXT, SimModelConfig, create_sim_model, load_answers


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


def test_unknown_prompts_get_a_synthetic_answer_and_are_counted(answers_file):
    client = TestClient(create_sim_model(SimModelConfig(answers_file=answers_file)))
    text = _ask(client, "never recorded")["body"]["choices"][0]["message"]["content"]
    assert "never recorded" in text
    assert client.get("/healthz").json()["unknown_prompts"] == 1


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
