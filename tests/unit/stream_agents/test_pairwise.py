"""The pairwise judge's prompt, its parsing and the both-orders tie rule."""

import httpx
import pytest

from schemas.events import ChatMessage, NormalizedRequest
from stream_agents.scoring.judge_limits import LocalJudgeLimits
from stream_agents.scoring.pairwise import (CUT_MARK, PairwiseJudge, build_pairwise_messages, combine_orders,
                                            parse_preference, render_conversation, split_pairwise_prompt)


def test_both_orders_agreeing_give_a_win_or_a_loss():
    assert combine_orders("A", "B").score == 1.0  # challenger preferred as A and as B
    assert combine_orders("B", "A").score == 0.0
    assert not combine_orders("A", "B").flipped


def test_a_verdict_that_follows_the_slot_is_a_tie_and_counted_as_flipped():
    for slot in ("A", "B"):
        outcome = combine_orders(slot, slot)
        assert outcome.score == 0.5 and outcome.flipped


def test_one_tie_gives_a_quarter_point_either_way():
    assert combine_orders("tie", "B").score == 0.75
    assert combine_orders("tie", "A").score == 0.25
    assert combine_orders("tie", "tie").score == 0.5 and not combine_orders("tie", "tie").flipped


@pytest.mark.parametrize("text,expected", [('{"winner": "A"}', "A"), ('```json\n{"winner":"b"}\n```', "B"),
                                           ("I think tie.", None), ("tie", "tie"), ('{"winner": "Tie"}', "tie"),
                                           ("Answer B", None)])
def test_preference_parsing(text, expected):
    assert parse_preference(text) == expected


def test_the_prompt_carries_the_whole_conversation_and_splits_back():
    request = NormalizedRequest(model="m", messages=[ChatMessage(role="system", content="Be brief."),
                                                     ChatMessage(role="user", content="Hi"),
                                                     ChatMessage(role="assistant", content="Hello!"),
                                                     ChatMessage(role="user", content="Name a colour\nplease")])
    messages = build_pairwise_messages(render_conversation(request), "Red.", "x" * 50, max_chars=20)
    turns, answer_a, answer_b = split_pairwise_prompt(messages[1]["content"])
    assert turns == [("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello!"),
                     ("user", "Name a colour\nplease")]
    assert answer_a == "Red." and answer_b == "x" * 20 + CUT_MARK


def test_a_completion_prompt_is_one_user_turn():
    request = NormalizedRequest(kind="completion", model="m", prompt="Once upon")
    turns, _, _ = split_pairwise_prompt(build_pairwise_messages(render_conversation(request), "a", "b")[1]["content"])
    assert turns == [("user", "Once upon")]


async def test_the_judge_asks_both_orders_and_counts_an_unparseable_answer_as_not_judged():
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        import json
        prompt = json.loads(request.content)["messages"][1]["content"]
        _, a, _ = split_pairwise_prompt(prompt)
        seen.append(a)
        text = '{"winner": "A"}' if a == "mine" else "no idea"
        return httpx.Response(200, json={"choices": [{"message": {"content": text}}],
                                         "usage": {"prompt_tokens": 1000, "completion_tokens": 0}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        from schemas.settings import ModelPrice
        judge = PairwiseJudge(http, "http://judge/v1", "j", limits=LocalJudgeLimits(1000, 10, None),
                              price=ModelPrice(input_per_1k=0.01))
        outcome, why, cost = await judge.judge("### user\nq", "theirs", "mine")
    assert sorted(seen) == ["mine", "theirs"]  # the challenger was shown first once, second once
    assert outcome is None and "not a preference" in why
    assert cost == pytest.approx(0.02) and judge.failures == 1
