"""Scores for structured answers (classifiers, JSON models, regressors): pure functions, no I/O.

Method ``structured-1``:

* ``parse_json``: the answer as a JSON value (the text itself, or the first fenced block).
* ``extract_label``: a classifier's label: a JSON string/bool, the first configured field of a JSON
  object (``label``, ``class``, ``decision`` ...), or a one-word plain answer. Case-folded.
* ``label_agreement``: agree or not, and the flip direction ``"production->challenger"``
  (e.g. ``"reject->approve"``), empty when they agree or a side has no label.
* ``extract_number`` / ``numeric_error``: absolute and relative error of numeric outputs.
* ``json_field_diff``: share of (dotted, flattened) fields with equal values, and the fields that differ.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from stream_agents.scoring.checks import _FENCE

__all__ = [
    "DEFAULT_LABEL_FIELDS",
    "DEFAULT_NUMERIC_FIELDS",
    "STRUCTURED_VERSION",
    "FieldDiff",
    "LabelAgreement",
    "MISSING",
    "NumericError",
    "extract_label",
    "extract_number",
    "json_field_diff",
    "label_agreement",
    "numeric_error",
    "parse_json",
]

STRUCTURED_VERSION = "structured-1"

DEFAULT_LABEL_FIELDS: tuple[str, ...] = ("label", "class", "decision", "prediction", "category", "intent", "verdict")
DEFAULT_NUMERIC_FIELDS: tuple[str, ...] = ("score", "value", "prediction", "probability", "amount")

_MAX_LABEL_CHARS = 64  # a "label" longer than this is prose, not a class name
_MAX_CHANGED = 50  # bound the Array(String) column on wide objects
_MAX_DEPTH = 6
_ONE_WORD = re.compile(r"^[\w.:+-]{1,64}$")
_NO_VALUE = object()


class LabelAgreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    production: str
    challenger: str
    agree: bool | None  # None when either side has no label
    flip: str  # "production->challenger" when they differ, else ""


class NumericError(BaseModel):
    model_config = ConfigDict(frozen=True)

    absolute: float
    relative: float | None  # None when production is 0 and the challenger is not


class FieldDiff(BaseModel):
    model_config = ConfigDict(frozen=True)

    agreement: float
    changed: list[str]


# What a JSON text can start with once NaN and Infinity are rejected (parse_constant below).
_JSON_START = frozenset('{["-0123456789tfn')


def _reject_constant(name: str) -> None:
    raise ValueError(name)


def _loads(s: str) -> Any:
    s = s.strip()
    if not s or s[0] not in _JSON_START:
        return _NO_VALUE  # cannot parse: spares the exception (most answers are prose; 6 tries per pair)
    try:
        return json.loads(s, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return _NO_VALUE


def parse_json(text: str) -> Any:
    """The JSON value of an answer; ``MISSING`` (not None: ``null`` is JSON) when it holds none."""
    value = _loads(text)
    if value is not _NO_VALUE:
        return value
    for m in _FENCE.finditer(text):
        value = _loads(m.group(1))
        if value is not _NO_VALUE:
            return value
    return _NO_VALUE


MISSING = _NO_VALUE


def _label_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        value = value.strip()
        return value.casefold() if 0 < len(value) <= _MAX_LABEL_CHARS else None
    if isinstance(value, int):
        return str(value)
    return None


def extract_label(text: str, fields: tuple[str, ...] | list[str] = DEFAULT_LABEL_FIELDS) -> str | None:
    """A classifier's label from an answer, or None when it carries none."""
    value = parse_json(text)
    if value is _NO_VALUE:
        stripped = text.strip().rstrip(".!")
        return stripped.casefold() if _ONE_WORD.match(stripped) and not _is_number(stripped) else None
    found = _from_container(value, fields, _label_of)
    if found is not _NO_VALUE:
        return found
    # a bare JSON number is a numeric output, not a class (extract_number reads it)
    return _label_of(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else None


def _from_container(value: Any, fields: tuple[str, ...] | list[str], convert: Any) -> Any:
    """The first configured field that converts (dict), the only element (one-element list), or _NO_VALUE."""
    if isinstance(value, dict):
        for field in fields:
            if field in value:
                converted = convert(value[field])
                if converted is not None:
                    return converted
        return None
    if isinstance(value, list) and len(value) == 1:  # ["approve"], [0.93]
        return convert(value[0])
    return _NO_VALUE


def label_agreement(production: str | None, challenger: str | None) -> LabelAgreement:
    if production is None or challenger is None:
        return LabelAgreement(production=production or "", challenger=challenger or "", agree=None, flip="")
    agree = production == challenger
    return LabelAgreement(production=production, challenger=challenger, agree=agree,
                          flip="" if agree else f"{production}->{challenger}")


def _is_number(s: str) -> bool:
    try:
        return math.isfinite(float(s))
    except ValueError:
        return False


def _number_of(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and _is_number(value.strip()):
        return float(value.strip())
    return None


def extract_number(text: str, fields: tuple[str, ...] | list[str] = DEFAULT_NUMERIC_FIELDS) -> float | None:
    """A numeric output: a JSON number, a configured numeric field, a one-element list, or a bare number."""
    value = parse_json(text)
    if value is _NO_VALUE:
        return float(text.strip()) if _is_number(text.strip()) else None
    found = _from_container(value, fields, _number_of)
    if found is not _NO_VALUE:
        return found
    return _number_of(value) if not isinstance(value, str) else None


def numeric_error(production: float | None, challenger: float | None) -> NumericError | None:
    """|challenger − production| and that over |production| (None when production is 0 but not equal)."""
    if production is None or challenger is None:
        return None
    absolute = abs(challenger - production)
    if production != 0:
        relative: float | None = absolute / abs(production)
    else:
        relative = 0.0 if absolute == 0 else None
    return NumericError(absolute=absolute, relative=relative)


def _flatten(value: Any, prefix: str, out: dict[str, Any], depth: int) -> None:
    if isinstance(value, dict) and value and depth < _MAX_DEPTH:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out, depth + 1)
    else:
        out[prefix or "$"] = value


def json_field_diff(production: str, challenger: str) -> FieldDiff | None:
    """Field-level diff of two JSON objects (nested objects flattened to dotted paths; lists compared
    whole). None unless both answers are JSON objects."""
    a, b = parse_json(production), parse_json(challenger)
    if not isinstance(a, dict) or not isinstance(b, dict):
        return None
    fa: dict[str, Any] = {}
    fb: dict[str, Any] = {}
    _flatten(a, "", fa, 0)
    _flatten(b, "", fb, 0)
    keys = fa.keys() | fb.keys()
    if not keys:
        return FieldDiff(agreement=1.0, changed=[])
    changed = sorted(k for k in keys if k not in fa or k not in fb or not _same(fa[k], fb[k]))
    return FieldDiff(agreement=1.0 - len(changed) / len(keys), changed=changed[:_MAX_CHANGED])


def _same(x: Any, y: Any) -> bool:
    # 1 and 1.0 are the same value; True and 1 are not (JSON has distinct types)
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    return x == y
