"""Properties of the pure scoring functions (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shadow_optic.data_files import data_dir
from stream_agents.scoring import (
    LENGTH_RATIO_CAP,
    SIMILARITY_VERSION,
    SimilarityScore,
    exact_match,
    is_refusal,
    json_validity,
    length_ratio,
    lexical_similarity,
)

REPO = Path(__file__).resolve().parents[3]
DATA = data_dir()  # the repository's data/ (data/README.md)

TEXTS = [
    "A man is playing a guitar on stage.",
    "The quarterly revenue rose 12% to $4.1 billion, beating estimates.",
    "To reverse a list in Python, use my_list[::-1] or my_list.reverse().",
    "Les chats dorment beaucoup pendant la journée.",
    "",
    "   ",
    "!!!",
    "word " * 400,
]


# --- similarity -------------------------------------------------------------

def test_version_and_model() -> None:
    assert SIMILARITY_VERSION
    s = lexical_similarity("a cat sat", "a dog sat")
    assert isinstance(s, SimilarityScore)
    assert s.method == "lexical"
    assert set(s.components) == {"word", "char", "bigram", "length"}
    with pytest.raises(Exception):
        s.value = 0.5  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("text", [t for t in TEXTS if t.strip()])
def test_identical_is_one(text: str) -> None:
    assert lexical_similarity(text, text).value == 1.0


def test_case_and_spacing_do_not_matter() -> None:
    assert lexical_similarity("Hello   World", "hello world").value == 1.0


def test_empty_rules() -> None:
    assert lexical_similarity("", "").value == 1.0
    assert lexical_similarity("  \n", "").value == 1.0
    assert lexical_similarity("something", "").value == 0.0
    assert lexical_similarity("", "something").value == 0.0


@pytest.mark.parametrize("a", TEXTS)
@pytest.mark.parametrize("b", TEXTS)
def test_symmetric_and_in_range(a: str, b: str) -> None:
    ab, ba = lexical_similarity(a, b), lexical_similarity(b, a)
    assert ab.value == ba.value
    assert ab.components == ba.components
    assert 0.0 <= ab.value <= 1.0
    assert all(0.0 <= v <= 1.0 for v in ab.components.values())


def test_paraphrase_beats_unrelated() -> None:
    a = "The cat is sleeping on the warm windowsill."
    para = "A cat sleeps on the sunny windowsill."
    unrelated = "Interest rates were raised by the central bank yesterday."
    assert lexical_similarity(a, para).value > lexical_similarity(a, unrelated).value + 0.3


def test_stop_words_are_damped() -> None:
    # sharing only function words must count for little
    assert lexical_similarity("the cat is on the mat", "the bank is on the river").value < 0.35


def test_length_penalty_bites_on_large_mismatch() -> None:
    short = "Paris is the capital of France."
    long = short + " " + " ".join(f"Extra detail number{i} about museums." for i in range(30))
    s = lexical_similarity(short, long)
    assert s.components["length"] < 0.2
    assert s.value < lexical_similarity(short, "Paris is the capital city of France.").value


def test_deterministic_across_processes() -> None:
    # set iteration order depends on PYTHONHASHSEED; scores must not
    a, b = TEXTS[1], "Revenue for the quarter rose 12 percent to 4.1 billion dollars."
    code = (
        "from stream_agents.scoring import lexical_similarity as f;"
        f"print(repr(f({a!r}, {b!r}).value))"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True, text=True, check=True, cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert outs == {repr(lexical_similarity(a, b).value)}


def test_long_texts_are_handled() -> None:
    a = " ".join(f"token{i % 500} alpha beta" for i in range(3000))
    b = " ".join(f"token{i % 400} alpha gamma" for i in range(2500))
    s = lexical_similarity(a, b)
    assert 0.0 < s.value < 1.0


def test_spearman_on_sts_dev() -> None:
    from scipy.stats import spearmanr

    with open(DATA / "sts_dev.jsonl", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    pred = [lexical_similarity(r["s1"], r["s2"]).value for r in rows]
    rho = spearmanr(pred, [r["score"] for r in rows])[0]
    assert rho >= 0.70, rho


# --- refusal ----------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, but I can\u2019t assist with that request.",
    "As an AI language model, I cannot provide medical advice.",
    "I am unable to fulfill this request.",
    "I cannot help with that.",
    "I must respectfully decline to answer.",
    "Unfortunately, I am not able to provide that information.",
    "Es tut mir leid, aber dabei kann ich Ihnen nicht helfen.",
    "Ich kann Ihnen dabei leider nicht helfen.",
    "Als KI-Sprachmodell kann ich keine persönlichen Meinungen äußern.",
    "Je ne peux pas vous aider avec cela.",
    "Désolé, mais je ne peux pas répondre à cette question.",
    "En tant qu'IA, je ne peux pas donner d'avis médical.",
    "Lo siento, no puedo ayudarte con eso.",
    "Como modelo de lenguaje, no puedo acceder a internet.",
    "Desculpe, mas não posso ajudar com isso.",
    "Sinto muito, não consigo responder a isso.",
    "Mi dispiace, ma non posso aiutarti con questo.",
    "Non sono in grado di rispondere a questa domanda.",
]

NOT_REFUSALS = [
    "Paris is the capital of France.",
    "I can't stress enough how important sleep is. Here are five tips.",
    "I can't wait to help! The answer is 42.",
    "I'm sorry to hear about your loss. Here are some ways to cope.",
    "Sure! Here is the recipe.\n\n" + "Mix the flour. " * 30
    + "If you can't find eggs, I'm sorry to say you cannot bake this.",
    "Here is the code:\n```cpp\ncout << \"Unable to open file\";\n```",
    "As an AI language model, I cannot experience projects like humans do. "
    "However, I can provide you with a hypothetical example. " + "Step one. " * 40,
    "Je ne peux pas m'empêcher de penser que c'est une bonne idée.",
    "",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals_detected(text: str) -> None:
    assert is_refusal(text)


@pytest.mark.parametrize("text", NOT_REFUSALS)
def test_non_refusals_not_flagged(text: str) -> None:
    assert not is_refusal(text)


def test_refusal_is_position_aware() -> None:
    preamble = "The history of the region is long and complex. " * 10
    assert not is_refusal(preamble + "I'm sorry, but I cannot help with that.")


# --- exact match / length ratio / json ------------------------------------------

def test_exact_match() -> None:
    assert exact_match("Hello  World\n", "hello world")
    assert exact_match("", "  ")
    assert not exact_match("hello world", "hello, world")


def test_length_ratio_edges() -> None:
    assert length_ratio("", "") == 1.0
    assert length_ratio("abc", "") == LENGTH_RATIO_CAP
    assert length_ratio("", "abc") == 0.0
    assert length_ratio("ab", "abcd") == 0.5
    assert length_ratio("a" * 10_000, "a") == LENGTH_RATIO_CAP


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": [1, 2]}',
        "  [1, 2, 3]  ",
        'Here you go:\n```json\n{"name": "x", "ok": true}\n```\nDone.',
        '```\n{"plain": "fence"}\n```',
    ],
)
def test_json_valid(text: str) -> None:
    assert json_validity(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "{'single': 'quotes'}",
        '```json\n{"broken": }\n```',
        '{"a": NaN}',
        "```python\nprint('hi')\n```",
    ],
)
def test_json_invalid(text: str) -> None:
    assert not json_validity(text)


def test_refusal_clues_never_change_the_answer() -> None:
    """The clues only skip searches that cannot match: every pattern, searched in full, agrees with
    is_refusal on the refusals above, the non-refusals, each pattern's own matches and the data sets."""
    import glob
    import unicodedata

    from stream_agents.scoring import checks

    assert len(checks._REFUSAL_CLUES) == len(checks._REFUSAL_PATTERNS)

    def unfiltered(text: str) -> bool:
        full = unicodedata.normalize("NFKC", text).lstrip()
        head = full[:checks.REFUSAL_WINDOW]
        for pattern in checks._REFUSAL_PATTERNS:
            m = pattern.search(head) if head else None
            if m is None:
                continue
            pivot = checks._PIVOT.search(full, m.end(), m.end() + checks._PIVOT_SPAN)
            if pivot is None or len(full) - pivot.end() < checks._SUBSTANTIAL:
                return True
        return False

    corpus: list[str] = []
    for path in sorted(glob.glob(str(Path(__file__).resolve().parents[3] / "data" / "*.jsonl"))):
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                corpus += [v for v in json.loads(line).values() if isinstance(v, str)]
    assert len(corpus) > 1000 and sum(map(unfiltered, corpus)) > 0  # the data sets hold refusals of their own
    texts = REFUSALS + NOT_REFUSALS + [t.upper() for t in REFUSALS] + [t.replace(" ", "\n  ") for t in REFUSALS]
    mismatched = [t[:80] for t in texts + corpus if is_refusal(t) != unfiltered(t)]
    assert mismatched == []
