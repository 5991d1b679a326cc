"""LLM judge, G-Eval style: a rubric with evaluation steps, a 1-5 score per criterion, normalised to 0-1.

Method ``judge-1``. The judge sees the user request and two answers labelled "Answer 1" / "Answer 2"
and never learns which one is production: the challenger's slot is drawn per (event, challenger,
repeat) from a hash (reproducible on rescore), and repeats alternate the slot, so position bias
cancels in pairs. Criteria, for each answer: faithfulness (no claim contradicts or goes beyond the
other answer's facts, i.e. agreement with production), quality (helpful, correct, complete for the
request), conciseness (no padding), and a refusal flag. With ``repeats`` > 1 the spread of a
criterion across repeats is the judge's own noise (``judge_noise``). Calls go through their own rate
limiter and spend budget (in-process, independent of the replay limiter).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import statistics
import time
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from schemas.settings import ModelPrice

__all__ = ["JUDGE_VERSION", "CRITERIA", "AsyncRateLimiter", "JudgeScores", "LLMJudge", "build_messages",
           "challenger_slot", "parse_verdict"]

JUDGE_VERSION = "judge-1"
CRITERIA = ("faithfulness", "quality", "conciseness")

_SYSTEM = "You are a strict, impartial evaluator of AI assistant answers. You reply with JSON only."

_RUBRIC = """Two assistants answered the same user request. Evaluate both answers.

Criteria (score each answer 1-5, integers):
- faithfulness: does the answer agree with the facts, figures and conclusions of the OTHER answer?
  5 = no contradiction and nothing substantive the other answer would dispute; 3 = minor differences
  in facts or emphasis; 1 = contradicts it or reaches a different conclusion.
- quality: is the answer correct, helpful and complete for the request? 5 = excellent; 1 = wrong,
  unhelpful or off-topic.
- conciseness: is it free of padding, repetition and irrelevant detail for what was asked?
  5 = nothing to cut; 1 = mostly filler.
- refusal: true if the answer declines or says it cannot help instead of answering.

Evaluation steps:
1. Read the request and decide what a good answer must contain.
2. Compare the claims of Answer 1 and Answer 2 with each other.
3. Score each criterion for each answer on its own merits. The order of the answers means nothing,
   and a longer answer is not better for being longer.

Request:
<<<
{request}
>>>

Answer 1:
<<<
{answer_1}
>>>

Answer 2:
<<<
{answer_2}
>>>

Reply with exactly this JSON and nothing else:
{{"answer_1": {{"faithfulness": n, "quality": n, "conciseness": n, "refusal": false}},
 "answer_2": {{"faithfulness": n, "quality": n, "conciseness": n, "refusal": false}}}}"""


class JudgeScores(BaseModel):
    """The challenger's criteria in [0, 1] (mean over repeats), production's quality, and the noise."""

    model_config = ConfigDict(frozen=True)

    faithfulness: float | None = None
    quality: float | None = None
    conciseness: float | None = None
    quality_production: float | None = None
    refusal: bool | None = None
    repeats: int = 0
    noise: float | None = None
    model: str = ""

    @property
    def overall(self) -> float | None:
        values = [v for v in (self.faithfulness, self.quality, self.conciseness) if v is not None]
        return sum(values) / len(values) if values else None


def _clip(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[:max_chars] + "\n[... cut ...]"


def build_messages(request: str, answer_1: str, answer_2: str, max_chars: int = 6000) -> list[dict[str, str]]:
    prompt = _RUBRIC.format(request=_clip(request, max_chars), answer_1=_clip(answer_1, max_chars),
                            answer_2=_clip(answer_2, max_chars))
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}]


_SLOT_KEYS = {"1": ("answer_1", "answer1", "answer 1", "1", "a", "first"),
              "2": ("answer_2", "answer2", "answer 2", "2", "b", "second")}
_NUMBER = re.compile(r"([1-5](?:\.\d+)?)")


def _score(value: Any) -> float | None:
    """1-5 from an int, a float, "4", "4/5" or "4 - good"; out of range -> None (not clamped: a 0-10
    or 0-100 answer means the judge ignored the scale)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if 1 <= value <= 5 else None
    if isinstance(value, str):
        m = _NUMBER.match(value.strip())
        return float(m.group(1)) if m else None
    return None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return value.strip().lower() in ("true", "yes")
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    while start != -1:
        depth = 0
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                try:
                    value = json.loads(text[start:i + 1])
                except ValueError:
                    break
                return value if isinstance(value, dict) else None
        start = text.find("{", start + 1)
    return None


def parse_verdict(text: str) -> dict[str, dict[str, Any]] | None:
    """{"1": {criterion: 1-5 or None, "refusal": bool|None}, "2": {...}} or None if nothing usable.

    Tolerates fences, prose around the JSON, key spellings (answer_1, "Answer 1", A/B), string scores
    ("4/5") and, without JSON, "Answer 1 ... faithfulness: 4" lines.
    """
    obj = _json_object(text)
    out: dict[str, dict[str, Any]] = {}
    if obj is not None:
        lowered = {str(k).strip().lower(): v for k, v in obj.items()}
        for slot, names in _SLOT_KEYS.items():
            part = next((lowered[n] for n in names if isinstance(lowered.get(n), dict)), None)
            if part is None:
                continue
            part = {str(k).strip().lower(): v for k, v in part.items()}
            out[slot] = {c: _score(part.get(c)) for c in CRITERIA} | {"refusal": _flag(part.get("refusal"))}
    if not out:
        sections = re.split(r"(?i)answer[\s_]*([12])\b", text)
        for slot, body in zip(sections[1::2], sections[2::2]):
            scores = {}
            for c in CRITERIA:
                m = re.search(rf"(?i){c}\W{{0,5}}([1-5](?:\.\d+)?)", body)
                scores[c] = float(m.group(1)) if m else None
            m = re.search(r"(?i)refusal\W{0,5}(true|false|yes|no)", body)
            scores["refusal"] = _flag(m.group(1)) if m else None
            out.setdefault(slot, scores)
    usable = any(v is not None for part in out.values() for k, v in part.items() if k in CRITERIA)
    return out if usable else None


class AsyncRateLimiter:
    """Token bucket for one process: `rate` calls/s, `burst` at once. Enough for an optional judge."""

    def __init__(self, rate: float, burst: int = 1) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._last = float(burst), time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / self._rate)


def challenger_slot(event_id: str, challenger: str, seed: int, repeat: int) -> str:
    """'1' or '2': where the challenger's answer goes; hash-drawn, then alternating over repeats."""
    digest = hashlib.sha256(f"{seed}|{event_id}|{challenger}".encode()).digest()
    return "1" if (digest[0] + repeat) % 2 == 0 else "2"


class LLMJudge:
    """Any OpenAI-compatible chat model as a judge; the caller owns the httpx client."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, model: str, api_key: str | None = None, *,
                 repeats: int = 1, rate_per_s: float = 1.0, burst: int = 1, concurrency: int = 4,
                 budget_usd: float | None = None, price: ModelPrice = ModelPrice(), temperature: float = 0.0,
                 timeout_s: float = 60.0, max_chars: int = 6000, seed: int = 0) -> None:
        self.model = model
        self._http, self._url = http, base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._repeats, self._temperature, self._timeout = repeats, temperature, timeout_s
        self._max_chars, self._seed, self._price, self._budget = max_chars, seed, price, budget_usd
        self._limiter = AsyncRateLimiter(rate_per_s, burst)
        self._slots = asyncio.Semaphore(concurrency)
        self.spent_usd = 0.0
        self.calls = 0
        self.failures = 0  # HTTP errors and unparseable verdicts
        self.skipped_budget = 0

    def over_budget(self) -> bool:
        return self._budget is not None and self.spent_usd >= self._budget

    async def _ask(self, messages: list[dict[str, str]]) -> dict[str, dict[str, Any]] | None:
        if self.over_budget():
            self.skipped_budget += 1
            return None
        await self._limiter.acquire()
        async with self._slots:
            self.calls += 1
            body = {"model": self.model, "messages": messages, "temperature": self._temperature, "max_tokens": 300}
            try:
                response = await self._http.post(self._url, json=body, headers=self._headers, timeout=self._timeout)
                response.raise_for_status()
                payload = response.json()
                text = payload["choices"][0]["message"]["content"] or ""
            except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError):
                self.failures += 1
                return None
            usage = payload.get("usage") or {}
            self.spent_usd += self._price.cost(int(usage.get("prompt_tokens") or 0),
                                               int(usage.get("completion_tokens") or 0))
        verdict = parse_verdict(text)
        if verdict is None:
            self.failures += 1
        return verdict

    async def judge(self, request: str, production: str, challenger: str, event_id: str,
                    challenger_name: str) -> JudgeScores | None:
        """Scores of the challenger's answer against production's; None when no repeat gave a verdict."""
        async def one(repeat: int) -> tuple[str, dict[str, dict[str, Any]] | None]:
            slot = challenger_slot(event_id, challenger_name, self._seed, repeat)
            first, second = (challenger, production) if slot == "1" else (production, challenger)
            return slot, await self._ask(build_messages(request, first, second, self._max_chars))

        runs = await asyncio.gather(*(one(r) for r in range(self._repeats)))
        per: dict[str, list[float]] = {c: [] for c in (*CRITERIA, "quality_production")}
        refusals: list[bool] = []
        done = 0
        for slot, verdict in runs:
            if verdict is None:
                continue
            other = "2" if slot == "1" else "1"
            mine, theirs = verdict.get(slot, {}), verdict.get(other, {})
            if not any(mine.get(c) is not None for c in CRITERIA):
                continue
            done += 1
            for c in CRITERIA:
                if mine.get(c) is not None:
                    per[c].append((mine[c] - 1.0) / 4.0)
            if theirs.get("quality") is not None:
                per["quality_production"].append((theirs["quality"] - 1.0) / 4.0)
            if mine.get("refusal") is not None:
                refusals.append(bool(mine["refusal"]))
        if done == 0:
            return None
        mean = {k: (statistics.fmean(v) if v else None) for k, v in per.items()}
        spreads = [statistics.pstdev(per[c]) for c in CRITERIA if len(per[c]) >= 2]
        return JudgeScores(**mean, refusal=(sum(refusals) * 2 > len(refusals)) if refusals else None,
                           repeats=done, noise=statistics.fmean(spreads) if spreads else None, model=self.model)

