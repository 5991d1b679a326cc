"""Recorded answers and the recorded judge, looked up after the gateway's masking (`sim-model`'s data).

Answers are keyed by prompt, from a pairs file (`prompt` + an answer field) or a scenario file (a
role's answers). The recorded judge holds the real pairwise preferences of a scenario or pairs file
and answers for the (prompt, answer, answer) it is shown, in either order. Prompts and answers are
compared after the same masking the gateway applies (`producers.redaction.Redactor`, defaults) on
both sides, and a clipped judge text by its prefix; what has no record is None with the reason,
never a guess.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from producers.redaction import Redactor
from stream_agents.scoring.pairwise import CUT_MARK, Preference

__all__ = ["RecordedAnswers", "RecordedJudge", "JudgeRecord", "load_answers", "load_judge_records",
           "load_scenario_answers", "mask", "short"]


@cache
def _redactor() -> Redactor:
    return Redactor()  # the gateway's defaults: secrets, email, phone, card, IBAN


def mask(text: str) -> str:
    """`text` masked as the gateway masks it before publishing; masking twice changes nothing more."""
    return _redactor().text(text, Counter())


def short(text: str, chars: int = 60) -> str:
    return repr(text[:chars])


def _read_jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON object: {exc}") from exc


def load_answers(path: Path, prompt_field: str, answer_field: str) -> dict[str, str]:
    """Answers keyed by prompt (as recorded) from a flat JSONL file, e.g. the pairs file."""
    answers: dict[str, str] = {}
    for number, row in _read_jsonl(path):
        if prompt_field not in row or answer_field not in row:
            raise ValueError(f"{path}:{number}: needs fields {prompt_field!r} and {answer_field!r}")
        answers[row[prompt_field]] = row[answer_field]
    return answers


def load_scenario_answers(path: Path, role: str) -> dict[str, str]:
    """`role`'s answers keyed by prompt from a scenario file: production, control, or a challenger's
    model name (rows without that challenger are left out)."""
    answers: dict[str, str] = {}
    roles: set[str] = set()
    for number, row in _read_jsonl(path):
        try:
            prompt, challengers = row["prompt"], row["challengers"]
            roles.update(c["model"] for c in challengers)
            if role in ("production", "control"):
                answers[prompt] = row[role]["response"]
            else:
                answer = next((c["response"] for c in challengers if c["model"] == role), None)
                if answer is not None:
                    answers[prompt] = answer
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a scenario row (prompt, production, control, "
                             f"challengers[].model/response): missing {exc}") from exc
    if not answers:
        raise ValueError(f"{path}: no answers for role {role!r}; roles: production, control, "
                         f"{', '.join(sorted(roles)) or '(no challengers)'}")
    return answers


class RecordedAnswers:
    """Recorded answers looked up by the prompt as received or, failing that, after masking."""

    _AMBIGUOUS = object()

    def __init__(self, answers: dict[str, str]) -> None:
        self._exact = dict(answers)
        self._masked: dict[str, Any] = {}
        for prompt, answer in answers.items():
            key = mask(prompt)
            previous = self._masked.get(key, answer)
            self._masked[key] = answer if previous == answer else self._AMBIGUOUS

    def __len__(self) -> int:
        return len(self._exact)

    def get(self, prompt: str) -> str | None:
        if prompt in self._exact:
            return self._exact[prompt]
        answer = self._masked.get(mask(prompt))
        return None if answer is None or answer is self._AMBIGUOUS else answer


@dataclass(frozen=True)
class JudgeRecord:
    """One recorded judgement, texts masked as the gateway masks them."""

    source: str  # row id (and challenger model) for messages
    prompt: str
    production: str
    challenger: str
    preferred: str | None  # production, challenger, tie, identical, or None (no preference recorded)


def load_judge_records(path: Path) -> list[JudgeRecord]:
    """Every (prompt, production answer, challenger answer, preference) of a scenario file or of a
    pairs file with `rating`."""
    records: list[JudgeRecord] = []
    for number, row in _read_jsonl(path):
        source = str(row.get("id") or f"{path.name}:{number}")
        try:
            prompt = mask(row["prompt"])
            if "challengers" in row:
                production = mask(row["production"]["response"])
                for challenger in row["challengers"]:
                    preferred = (challenger.get("judge") or {}).get("preferred")
                    records.append(JudgeRecord(f"{source} {challenger['model']}", prompt, production,
                                               mask(challenger["response"]), preferred))
            else:
                records.append(JudgeRecord(source, prompt, mask(row["production_response"]),
                                           mask(row["challenger_response"]), row["rating"].get("preferred")))
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}:{number}: neither a scenario row (production, challengers[].judge) nor a "
                             f"pairs row (production_response, challenger_response, rating): missing {exc}") from exc
    return records


def _unclip(text: str) -> tuple[str, bool]:
    return (text[:-len(CUT_MARK)], True) if text.endswith(CUT_MARK) else (text, False)


def _same(received: tuple[str, str, bool], recorded: str) -> bool:
    """The received text (as received, masked, clipped?) is the recorded one, or its beginning if clipped."""
    text, masked, clipped = received
    if clipped:
        return recorded.startswith(masked) or recorded.startswith(text)
    return recorded == masked or recorded == text


class RecordedJudge:
    """Answers the pairwise judge prompt from recorded preferences, for the order it was shown."""

    def __init__(self, records: list[JudgeRecord]) -> None:
        self.records = len(records)
        # Keyed without trailing newlines: the judge prompt's parser drops them from each turn.
        self._by_prompt: dict[str, list[JudgeRecord]] = {}
        for record in records:
            self._by_prompt.setdefault(record.prompt.rstrip("\n"), []).append(record)

    def _candidates(self, prompt: str) -> list[JudgeRecord]:
        prompt, clipped = _unclip(prompt)
        masked = mask(prompt)
        if not clipped:
            return self._by_prompt.get(masked.rstrip("\n")) or self._by_prompt.get(prompt.rstrip("\n")) or []
        if not prompt.strip():
            return []
        return [record for key, group in self._by_prompt.items() if key.startswith(masked) or key.startswith(prompt)
                for record in group]

    def verdict(self, turns: list[tuple[str, str]], answer_a: str, answer_b: str) -> tuple[Preference | None, str]:
        """(preference, "") or (None, why there is no recorded preference)."""
        prompts = [text for role, text in turns if role == "user"]
        if not prompts:
            return None, "the conversation has no user turn"
        candidates = self._candidates(prompts[-1])
        if not candidates:
            return None, f"no recorded prompt matches {short(prompts[-1])}"
        a, a_clipped = _unclip(answer_a)
        b, b_clipped = _unclip(answer_b)
        for slot, text in (("A", a), ("B", b)):
            if not text.strip():
                return None, f"answer {slot} is empty (prompt {short(prompts[-1])})"
        got_a, got_b = (a, mask(a), a_clipped), (b, mask(b), b_clipped)
        verdicts: dict[Preference, list[str]] = {}
        without: list[str] = []
        for record in candidates:
            a_prod, a_chal = _same(got_a, record.production), _same(got_a, record.challenger)
            b_prod, b_chal = _same(got_b, record.production), _same(got_b, record.challenger)
            slots = {"B"} if a_prod and b_chal else set()
            slots |= {"A"} if a_chal and b_prod else set()
            if not slots:
                continue
            if record.preferred is None:
                without.append(record.source)
                continue
            if record.preferred in ("tie", "identical"):
                preference: Preference = "tie"
            elif record.preferred in ("challenger", "production") and len(slots) == 1:
                challenger_slot = next(iter(slots))
                production_slot = "A" if challenger_slot == "B" else "B"
                preference = challenger_slot if record.preferred == "challenger" else production_slot
            else:  # an unknown label, or both answers fit both sides: no honest answer
                without.append(record.source)
                continue
            verdicts.setdefault(preference, []).append(record.source)
        if len(verdicts) == 1:
            return next(iter(verdicts)), ""
        if len(verdicts) > 1:
            return None, "records disagree: " + "; ".join(f"{p}: {', '.join(s)}" for p, s in verdicts.items())
        if without:
            return None, f"the record for these answers has no usable preference ({', '.join(without)})"
        return None, (f"prompt {short(prompts[-1])} has {len(candidates)} recorded pairs, none of them "
                      f"these two answers (A {short(a, 40)}, B {short(b, 40)})")
