"""The pairwise judge: which of two answers to the same request is better, asked in both orders.

Method ``pairwise-1``. The judge sees the whole conversation and two answers labelled A and B and never
learns which one is production. Every judged pair is asked twice, the challenger once in each slot;
the challenger's score is the mean of the two orders (win 1, tie 0.5, loss 0), so a pair whose verdict
flips with the order (A both times, say) scores 0.5, a tie: position bias cancels. The share of
flipped pairs is the judge's own inconsistency and is reported. The answer is one small JSON object,
so any OpenAI-compatible chat model can be the judge, and a recorded judge (`shadow-optic sim-model
--judge-file`) can answer the same prompt from real recorded preferences.
"""

from __future__ import annotations

import asyncio
import re
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict

from schemas.events import ChatMessage, NormalizedRequest
from schemas.settings import ModelPrice
from stream_agents.scoring.judge_limits import JudgeLimits

__all__ = ["PAIRWISE_VERSION", "Preference", "PairOutcome", "PairwiseJudge", "build_pairwise_messages",
           "combine_orders", "parse_preference", "render_conversation", "split_pairwise_prompt", "clip"]

PAIRWISE_VERSION = "pairwise-1"
CUT_MARK = "\n[... cut ...]"

Preference = Literal["A", "B", "tie"]

_SYSTEM = "You are an impartial judge of AI assistant answers. You reply with JSON only."

_PROMPT = """Two AI assistants answered the same conversation. Decide which answer is better for the user:
more correct, helpful and complete for what was asked. The order of the answers means nothing, and an
answer is not better for being longer. If neither is better, say tie.

<conversation>
{conversation}
</conversation>

<answer_a>
{answer_a}
</answer_a>

<answer_b>
{answer_b}
</answer_b>

Reply with exactly one JSON object and nothing else: {{"winner": "A"}}, {{"winner": "B"}} or {{"winner": "tie"}}"""

_SECTION = re.compile(r"<(conversation|answer_a|answer_b)>\n(.*?)\n</\1>", re.S)
_TURN = re.compile(r"^### (\w+)\n", re.M)


def clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + CUT_MARK


def render_conversation(request: NormalizedRequest, max_chars: int = 6000) -> str:
    """Every turn as '### role' and its text, each cut to `max_chars`: the judge sees the whole
    conversation, not only the last turn."""
    messages = request.messages or [ChatMessage(role="user", content=request.prompt or "")]
    return "\n".join(f"### {m.role}\n{clip(m.content, max_chars)}" for m in messages)


def build_pairwise_messages(conversation: str, answer_a: str, answer_b: str,
                            max_chars: int = 6000) -> list[dict[str, str]]:
    prompt = _PROMPT.format(conversation=conversation, answer_a=clip(answer_a, max_chars),
                            answer_b=clip(answer_b, max_chars))
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]


def split_pairwise_prompt(prompt: str) -> tuple[list[tuple[str, str]], str, str] | None:
    """(turns as (role, text), answer A, answer B) of a prompt built above; None if it is not one."""
    sections = {name: body for name, body in _SECTION.findall(prompt)}
    if set(sections) != {"conversation", "answer_a", "answer_b"}:
        return None
    parts = _TURN.split(sections["conversation"])
    turns = [(role, text.rstrip("\n")) for role, text in zip(parts[1::2], parts[2::2])]
    return turns, sections["answer_a"], sections["answer_b"]


_WINNER = re.compile(r'"?winner"?\s*[:=]\s*"?\s*(A|B|tie)\b', re.I)


def parse_preference(text: str) -> Preference | None:
    """'A', 'B' or 'tie' from {"winner": ...} (fences and prose around it tolerated), or a bare answer."""
    match = _WINNER.search(text)
    if match is None:
        bare = text.strip().strip('`"\'. ').lower()
        return {"a": "A", "b": "B", "tie": "tie"}.get(bare)  # type: ignore[return-value]
    value = match.group(1)
    return "tie" if value.lower() == "tie" else value.upper()  # type: ignore[return-value]


class PairOutcome(BaseModel):
    """The challenger's score on one event, from the two orders."""

    model_config = ConfigDict(frozen=True)

    score: float  # 1 win, 0.5 tie, 0 loss; the mean of the two orders
    flipped: bool  # the verdict followed the slot, not the answer


def _challenger_points(preference: Preference, challenger_slot: Literal["A", "B"]) -> float:
    if preference == "tie":
        return 0.5
    return 1.0 if preference == challenger_slot else 0.0


def combine_orders(challenger_first: Preference, challenger_second: Preference) -> PairOutcome:
    """`challenger_first`: the verdict with the challenger as A; `challenger_second`: as B."""
    first, second = _challenger_points(challenger_first, "A"), _challenger_points(challenger_second, "B")
    return PairOutcome(score=(first + second) / 2, flipped={first, second} == {0.0, 1.0})


class JudgeCall(BaseModel):
    """One order's outcome: a preference, or why there is none."""

    preference: Preference | None = None
    error: str = ""
    cost_usd: float = 0.0


class PairwiseJudge:
    """Any OpenAI-compatible chat model as a pairwise judge; the caller owns the httpx client.

    Calls go through the judge's own rate limit and spend budget (`limits`, see judge_limits.py),
    independent of the replay limiter: a judge is another paid model with its own quota.
    """

    def __init__(self, http: httpx.AsyncClient, base_url: str, model: str, api_key: str | None = None, *,
                 limits: JudgeLimits, concurrency: int = 4, price: ModelPrice = ModelPrice(),
                 timeout_s: float = 60.0, max_chars: int = 6000) -> None:
        self.model = model
        self.version = f"{PAIRWISE_VERSION}:{model}"
        self._http, self._url = http, base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._limits, self._slots = limits, asyncio.Semaphore(concurrency)
        self._price, self._timeout, self._max_chars = price, timeout_s, max_chars
        self.spent_usd = 0.0
        self.calls = 0
        self.failures = 0

    async def _ask(self, conversation: str, answer_a: str, answer_b: str) -> JudgeCall:
        # Admission inside the slots: a batch asks hundreds of pairs at once, and each admission is a
        # Redis round trip (seen: 640 at once exhausted the client's connection pool).
        async with self._slots:
            if not await self._limits.acquire():
                return JudgeCall(error="judge budget spent")
            self.calls += 1
            body = {"model": self.model, "temperature": 0.0, "max_tokens": 20,
                    "messages": build_pairwise_messages(conversation, answer_a, answer_b, self._max_chars)}
            try:
                response = await self._http.post(self._url, json=body, headers=self._headers, timeout=self._timeout)
                payload = response.json() if response.content else {}
                if response.status_code != 200:
                    message = (payload.get("error") or {}).get("message", "") if isinstance(payload, dict) else ""
                    self.failures += 1
                    return JudgeCall(error=f"judge answered HTTP {response.status_code}: {message}"[:300])
                text = payload["choices"][0]["message"]["content"] or ""
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
                self.failures += 1
                return JudgeCall(error=f"judge call failed: {type(exc).__name__}")
        usage = payload.get("usage") or {}
        cost = self._price.cost(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        self.spent_usd += cost
        await self._limits.settle(cost)
        preference = parse_preference(text)
        if preference is None:
            self.failures += 1
            return JudgeCall(error=f"judge answer is not a preference: {text[:80]!r}", cost_usd=cost)
        return JudgeCall(preference=preference, cost_usd=cost)

    async def judge(self, conversation: str, production: str, challenger: str) -> tuple[PairOutcome | None, str, float]:
        """(outcome, why not judged, dollars spent): both orders concurrently."""
        as_a, as_b = await asyncio.gather(self._ask(conversation, challenger, production),
                                          self._ask(conversation, production, challenger))
        cost = as_a.cost_usd + as_b.cost_usd
        if as_a.preference is None or as_b.preference is None:
            return None, as_a.error or as_b.error, cost
        return combine_orders(as_a.preference, as_b.preference), "", cost

