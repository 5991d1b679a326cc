"""Cheap deterministic checks on answers: refusal, exact match, length, JSON.

All pure functions; only compiled regexes are built at import time.
"""

from __future__ import annotations

import json
import re
import unicodedata

__all__ = [
    "LENGTH_RATIO_CAP",
    "REFUSAL_WINDOW",
    "exact_match",
    "is_refusal",
    "json_validity",
    "length_ratio",
]

# A refusal is what an answer *opens* with. Later on, "I can't" is usually
# content (quoted code, a poem, "if you're unable to find ..."), so only the
# first characters are searched.
REFUSAL_WINDOW = 240

# length_ratio() cap: keeps the value finite (ClickHouse Float64 columns,
# averages) when production is empty or tiny.
LENGTH_RATIO_CAP = 100.0

# Apostrophes: ASCII and typographic (LLMs emit both).
_A = "['\u2019]"

# Phrases after "I can't" that are idioms, not inability.
_EN_IDIOM = (
    r"(?!\s+(?:stress|emphasi[sz]e|overstate|recommend|thank|wait|believe|"
    r"help\s+but|imagine|say\s+enough|tell\s+you\s+how))"
)
_EN_CANNOT = (
    rf"(?:can{_A}?t|cannot|can\s+not|am\s+(?:not\s+)?unable\s+to|{_A}m\s+unable\s+to|"
    rf"am\s+not\s+able\s+to|{_A}m\s+not\s+able\s+to|won{_A}t|will\s+not|"
    rf"am\s+not\s+(?:in\s+a\s+position|permitted|allowed)|{_A}m\s+not\s+(?:in\s+a\s+position|permitted|allowed)|"
    rf"must\s+(?:decline|refuse)|do\s+not\s+feel\s+comfortable|don{_A}t\s+feel\s+comfortable)"
)

_REFUSAL_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        # --- English ---
        # apology + inability in the same sentence: "I'm sorry, but I can't ..."
        rf"\b(?:sorry|apologi[sz]e|unfortunately|regrettably)\b[^.!?\n]{{0,60}}\bi\s*(?:{_A}m\s+)?{_EN_CANNOT}{_EN_IDIOM}",
        # "As an AI (language model), I cannot ..." / "I am an AI ..., I do not have access"
        rf"\b(?:as\s+an?|i\s+am\s+an?|i{_A}m\s+an?)\s+(?:ai|artificial\s+intelligence|language\s+model|"
        rf"ai\s+language\s+model|ai\s+assistant|helpful\s+assistant|assistant)\b[^.!?\n]{{0,60}}"
        rf"\b(?:i\s+)?(?:{_EN_CANNOT}|do\s+not\s+have\s+(?:access|the\s+ability|real[- ]time)|"
        rf"don{_A}t\s+have\s+(?:access|the\s+ability|real[- ]time))",
        # bare inability opening the answer: "I cannot help with that."
        rf"^\W*i\s*(?:{_A}m\s+)?{_EN_CANNOT}{_EN_IDIOM}\s+(?:help|assist|provide|comply|fulfil|fulfill|"
        rf"answer|do|create|write|generate|give|share|support|engage|participate|complete|"
        rf"process|offer|produce|continue|discuss|respond|make|tell)\b",
        r"\bi\s+(?:must|have\s+to)\s+(?:respectfully\s+)?(?:decline|refuse)\b",
        r"^\W*(?:i\s+)?(?:can(?:'|\u2019)?t|cannot)\s+(?:help|assist)\s+with\s+(?:that|this)\b",
        # --- German ---
        r"\b(?:es\s+tut\s+mir\s+leid|leider|entschuldigung)\b[^.!?\n]{0,60}\bkann\s+ich\b[^.!?\n]{0,60}\bnicht\b",
        r"\bich\s+kann\s+(?:ihnen|dir|euch)?\s*(?:dabei|hierbei|damit)?\s*(?:leider\s+)?(?:nicht|keine)\b",
        r"\bals\s+(?:ki|k\.i\.|sprachmodell|ki-sprachmodell|künstliche\s+intelligenz)\b[^.!?\n]{0,60}\b(?:kann|darf)\s+ich\b[^.!?\n]{0,40}\b(?:nicht|keine)\b",
        r"\bich\s+bin\s+(?:leider\s+)?nicht\s+in\s+der\s+lage\b",
        # --- French ---
        r"\bje\s+ne\s+(?:peux|suis\s+pas\s+en\s+mesure|puis)\b(?!\s+pas\s+m[\u2019']emp[eê]cher)",
        r"\b(?:en\s+tant\s+qu[\u2019']|comme\s+)(?:ia|intelligence\s+artificielle|mod[eè]le\s+de\s+langage|assistant)\b[^.!?\n]{0,60}\bje\s+ne\b",
        r"\b(?:d[ée]sol[ée]e?|je\s+suis\s+d[ée]sol[ée]e?|malheureusement)\b[^.!?\n]{0,60}\b(?:je\s+ne\s+peux|impossible)\b",
        # --- Spanish ---
        r"\b(?:lo\s+siento|lamentablemente|disculp[ae])\b[^.!?\n]{0,60}\bno\s+(?:puedo|me\s+es\s+posible|estoy\s+en\s+condiciones)\b",
        r"^\W*no\s+(?:puedo|me\s+es\s+posible|estoy\s+en\s+condiciones\s+de)\b",
        r"\bcomo\s+(?:una?\s+)?(?:ia|inteligencia\s+artificial|modelo\s+de\s+lenguaje|asistente)\b[^.!?\n]{0,60}\bno\s+(?:puedo|tengo\s+(?:acceso|la\s+capacidad))\b",
        # --- Portuguese ---
        r"\b(?:desculp[ea]|sinto\s+muito|lamento|infelizmente)\b[^.!?\n]{0,60}\bn[ãa]o\s+(?:posso|consigo|sou\s+capaz)\b",
        r"^\W*(?:eu\s+)?n[ãa]o\s+(?:posso|consigo|sou\s+capaz\s+de)\b",
        r"\bcomo\s+(?:uma?\s+)?(?:ia|intelig[êe]ncia\s+artificial|modelo\s+de\s+linguagem|assistente)\b[^.!?\n]{0,60}\bn[ãa]o\s+(?:posso|consigo|tenho\s+(?:acesso|a\s+capacidade))\b",
        # --- Italian ---
        r"\b(?:mi\s+dispiace|purtroppo|spiacente|mi\s+scuso)\b[^.!?\n]{0,60}\bnon\s+(?:posso|sono\s+in\s+grado|riesco)\b",
        r"^\W*(?:io\s+)?non\s+(?:posso|sono\s+in\s+grado\s+di|riesco\s+a)\b",
        r"\bcome\s+(?:un[ao]?\s+)?(?:ia|intelligenza\s+artificiale|modello\s+(?:di\s+)?linguistico|modello\s+di\s+linguaggio|assistente)\b[^.!?\n]{0,60}\bnon\s+(?:posso|sono\s+in\s+grado|ho\s+accesso)\b",
    )
)

# Words each pattern above cannot match without (one of them, in the lower-cased head with runs of
# whitespace made one space), in the same order: a pattern runs only when one of its clues is there.
# The 21 searches cost ~300 µs on an ordinary 200-character answer, twice per scored pair (the
# worker's largest single cost, bench/bench_worker.py --profile); the clues make that a few µs, and
# tests/unit/stream_agents/test_scoring.py checks that the answers stay exactly the same.
_EN_CANNOT_CLUES = ("can", "unable", "not", "won", "decline", "refuse", "comfortable")
_REFUSAL_CLUES: tuple[tuple[str, ...], ...] = (
    ("sorry", "apologi", "unfortunately", "regrettably"),
    ("as a", "i am a", "i'm a", "i\u2019m a"),
    _EN_CANNOT_CLUES,
    ("decline", "refuse"),
    ("help", "assist"),
    ("leid", "entschuldigung"),
    ("ich kann",),
    ("als ",),
    ("ich bin",),
    ("je ne",),
    ("je ne",),
    ("je ne", "impossible"),
    ("puedo", "posible", "estoy"),
    ("puedo", "posible", "estoy"),
    ("puedo", "tengo"),
    ("posso", "consigo", "capaz"),
    ("posso", "consigo", "capaz"),
    ("posso", "consigo", "tenho"),
    ("posso", "grado", "riesco"),
    ("posso", "grado", "riesco"),
    ("posso", "grado", "accesso"),
)

# A disclaimer followed by a real answer ("As an AI I can't have opinions,
# but here is ...") is not a refusal. The pivot must come soon after the
# match and be followed by a substantial answer.
_PIVOT = re.compile(
    r"\b(?:(?:however|but|that\s+said|instead|nevertheless|jedoch|aber|cependant|mais|"
    r"sin\s+embargo|pero|no\s+entanto|mas|tuttavia|però|ma)\b"
    rf"[^.!?\n]{{0,40}}\b(?:i\s+can|i\s+could|i{_A}d\s+be\s+happy|i\s+will|let\s+me|here|"
    r"kann\s+ich|je\s+peux|puedo|posso|voici|aquí|ecco)"
    rf"|here\s+(?:is|are)|here{_A}s|the\s+following|hier\s+(?:ist|sind)|voici|aquí\s+(?:tienes|está|hay)|"
    r"aqui\s+(?:está|estão)|ecco)\b",
    re.IGNORECASE,
)
_PIVOT_SPAN = 200  # the pivot must start within this many chars after the match
_SUBSTANTIAL = 300  # chars after the pivot that make it an answer, not a refusal


def is_refusal(text: str) -> bool:
    """True if the answer opens by declining or claiming it cannot answer.

    Position-aware: only the first ``REFUSAL_WINDOW`` characters are searched,
    so "I can't stress enough ..." deep in an essay, or "Unable to open file"
    in quoted code, do not count. Apology + inability ("I'm sorry, but I
    can't"), AI-identity + inability ("As an AI language model, I cannot"),
    bare inability ("I am unable to help with that") and explicit declining,
    in English, German, French, Spanish, Portuguese and Italian. A disclaimer
    followed by a pivot and a substantial answer is not a refusal.
    """
    head = unicodedata.normalize("NFKC", text).lstrip()[:REFUSAL_WINDOW]
    if not head:
        return False
    full = None
    words = " ".join(head.lower().split())
    for pattern, clues in zip(_REFUSAL_PATTERNS, _REFUSAL_CLUES):
        for clue in clues:
            if clue in words:
                break
        else:
            continue  # this pattern cannot match: spare the search
        m = pattern.search(head)
        if m is None:
            continue
        if full is None:
            full = unicodedata.normalize("NFKC", text).lstrip()
        pivot = _PIVOT.search(full, m.end(), m.end() + _PIVOT_SPAN)
        if pivot is not None and len(full) - pivot.end() >= _SUBSTANTIAL:
            continue  # disclaimer, then the answer
        return True
    return False


_WS = re.compile(r"\s+")


def _norm_text(text: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def exact_match(a: str, b: str) -> bool:
    """Equal after NFKC, case folding and whitespace collapsing."""
    return _norm_text(a) == _norm_text(b)


def length_ratio(challenger: str, production: str) -> float:
    """``len(challenger) / len(production)`` in characters, capped.

    Both empty -> 1.0. Empty production with a non-empty challenger ->
    ``LENGTH_RATIO_CAP`` (100.0); every ratio is capped there so the value is
    always finite.
    """
    lc, lp = len(challenger), len(production)
    if lp == 0:
        return 1.0 if lc == 0 else LENGTH_RATIO_CAP
    return min(lc / lp, LENGTH_RATIO_CAP)


# ```json ... ``` (or ``` ... ```, ~~~ fences); the first fenced block is used.
_FENCE = re.compile(r"(?:```|~~~)[ \t]*(?:json5?|JSON|javascript|js)?[ \t]*\r?\n(.*?)(?:```|~~~)", re.DOTALL)


def json_validity(text: str) -> bool:
    """True if the text is JSON, or holds JSON inside a fenced code block.

    Any JSON value counts (object, array, string, number, ...), as ``json.loads``
    defines it; NaN/Infinity are rejected because they are not JSON.
    """
    if _parses_strict(text):
        return True
    for m in _FENCE.finditer(text):
        if _parses_strict(m.group(1)):
            return True
    return False


def _reject_constant(name: str) -> None:
    raise ValueError(name)


# What a JSON text can start with once NaN and Infinity are rejected (_reject_constant).
_JSON_START = frozenset('{["-0123456789tfn')


def _parses_strict(s: str) -> bool:
    s = s.strip()
    if not s or s[0] not in _JSON_START:
        return False  # cannot parse: spares the exception
    try:
        json.loads(s, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return False
    return True
