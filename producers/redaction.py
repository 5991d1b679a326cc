"""Secrets out, PII masked: applied to everything of a request that can reach Kafka.

Secrets (keys, tokens, passwords) are replaced wherever they are: a field whose name says it holds
one (body or query string), or a value that looks like one (`sk-…`, `Bearer …`, JWTs, cloud keys).
PII is masked by kind (email, phone, card numbers that pass the Luhn check, IBANs that pass mod 97,
configured patterns). Every replacement is counted by kind; the counts travel on the event.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from schemas.errors import ConfigError

__all__ = ["Redactor", "SECRET_HEADERS", "SECRET_FIELDS", "luhn_valid", "iban_valid"]

# Header names whose values are credentials. Headers never go on an event; this list also guards tags.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "openai-api-key",
    "x-goog-api-key", "anthropic-api-key", "x-auth-token", "x-access-token", "x-amz-security-token",
})
# Keys (body fields, query parameters), compared lower-cased with - and _ removed.
SECRET_FIELDS = frozenset({
    "apikey", "key", "token", "accesstoken", "refreshtoken", "idtoken", "authtoken", "secret", "clientsecret",
    "password", "passwd", "pwd", "authorization", "auth", "cookie", "sessionid", "session", "privatekey",
    "signature", "sig", "credentials", "credential", "bearer",
})

# (literal that must be in the lower-cased text, pattern): a pattern runs only where its literal occurs,
# so ordinary text costs a few substring searches instead of a scan per pattern.
_SECRET_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (triggers, re.compile(pattern, re.IGNORECASE)) for triggers, pattern in (
        (("bearer",), r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"),
        (("sk-", "pk-", "rk-"), r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"),  # OpenAI / Stripe style keys
        (("akia",), r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
        (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), r"\bgh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
        (("xox",), r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),  # Slack tokens
        (("aiza",), r"\bAIza[0-9A-Za-z_-]{35}"),  # Google API keys
        (("eyj",), r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWTs
        (("private key",), r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
        (("key", "token", "secret", "passw"),
         r"\b(?:api[_-]?key|access[_-]?token|secret|password|passwd)\s*[:=]\s*[\"']?[^\s\"',;]{6,}"),
    ))
_SECRET_TRIGGERS = tuple((t, i) for i, (triggers, _p) in enumerate(_SECRET_PATTERNS) for t in triggers)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by spaces or dashes; the Luhn check decides.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# Country code, 2 check digits, 11-30 alphanumerics, optionally in groups of 4; mod 97 decides.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
# International (+ and 8-15 digits) or North-American style (3-3-4); dots excluded so IPs and versions pass.
# Card and phone numbers live in runs of digits and separators: find those runs first (one cheap scan),
# then look for cards and phones inside them only.
_DIGIT_RUN = re.compile(r"\d[\d ()-]{7,}\d")  # a leading + or ( is taken in by hand: faster scan
_IBAN_HINT = re.compile(r"[A-Z]{2}\d{2}")
_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9._%+-]+$")
_EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{1,4}(?:[ -]?\d{2,4}){2,4}"
    r"|\(?\d{3}\)?[ -]\d{3}[ -]\d{4}|\(\d{3}\)\d{3}-\d{4})(?![\w])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    text = candidate.replace(" ", "")
    if not 15 <= len(text) <= 34:
        return False
    rearranged = text[4:] + text[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _norm_key(key: str) -> str:
    return key.lower().replace("-", "").replace("_", "")


class Redactor:
    """Stateless and thread-safe: `text()` and `value()` return the cleaned copy and add to `counts`."""

    def __init__(self, pii_kinds: Iterable[str] = ("email", "phone", "card", "iban"),
                 patterns: dict[str, str] | None = None, secret_fields: Iterable[str] = (),
                 secret_headers: Iterable[str] = ()) -> None:
        known = {"email", "phone", "card", "iban"}
        kinds = set(pii_kinds)
        unknown = kinds - known
        if unknown:
            raise ConfigError(f"SHADOW_GATEWAY_PII_KINDS has unknown kinds {sorted(unknown)}; known: {sorted(known)}")
        self.secret_fields = SECRET_FIELDS | {_norm_key(f) for f in secret_fields}
        self.secret_headers = SECRET_HEADERS | {h.lower() for h in secret_headers}
        # Order matters: IBAN and card before phone, so their digits are not taken for a phone number.
        steps: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = []
        if "iban" in kinds:
            steps.append(("iban", _IBAN, iban_valid))
        if "card" in kinds:
            steps.append(("card", _CARD, lambda m: luhn_valid(re.sub(r"\D", "", m))))
        if "email" in kinds:
            steps.append(("email", _EMAIL, None))
        if "phone" in kinds:
            steps.append(("phone", _PHONE, None))
        for name, pattern in (patterns or {}).items():
            try:
                steps.append((name, re.compile(pattern), None))
            except re.error as exc:
                raise ConfigError(f"SHADOW_GATEWAY_PII_PATTERNS[{name!r}] is not a valid regex: {exc}") from exc
        self._text_steps = [step for step in steps if step[0] not in ('card', 'phone')]
        self._digit_steps = [step for step in steps if step[0] in ('card', 'phone')]

    def is_secret_field(self, key: str) -> bool:
        return _norm_key(key) in self.secret_fields

    def is_secret_header(self, name: str) -> bool:
        return name.lower() in self.secret_headers

    def text(self, value: str, counts: Counter[str]) -> str:
        if not value:
            return value
        lowered = value.lower()
        for index in sorted({i for trigger, i in _SECRET_TRIGGERS if trigger in lowered}):
            value = self._sub(value, "secret", _SECRET_PATTERNS[index][1], None, "[REDACTED]", counts)
        for name, pattern, check in self._text_steps:
            if name == "email":
                if "@" in value:
                    value = self._emails(value, counts)
            elif name != "iban" or _IBAN_HINT.search(value):
                value = self._sub(value, name, pattern, check, f"[{name.upper()}]", counts)
        if self._digit_steps:
            value = self._digit_runs(value, counts)
        return value

    @staticmethod
    def _emails(value: str, counts: Counter[str]) -> str:
        """Expand around each @ instead of scanning the whole text with one regex (5-10x faster)."""
        out, pos, at = [], 0, value.find("@")
        while at != -1:
            local = _EMAIL_LOCAL.search(value, max(pos, at - 64), at)
            domain = _EMAIL_DOMAIN.match(value, at + 1, at + 256)
            if local is not None and domain is not None:
                out.append(value[pos:local.start()])
                out.append("[EMAIL]")
                counts["email"] += 1
                pos = domain.end()
            at = value.find("@", max(at + 1, pos))
        out.append(value[pos:])
        return "".join(out)

    def _digit_runs(self, value: str, counts: Counter[str]) -> str:
        out, pos = [], 0
        for match in _DIGIT_RUN.finditer(value):
            start = match.start()
            if start > 0 and value[start - 1] in "+(":
                start -= 1
            run = value[start:match.end()]
            for name, pattern, check in self._digit_steps:
                run = self._sub(run, name, pattern, check, f"[{name.upper()}]", counts)
            out.append(value[pos:start])
            out.append(run)
            pos = match.end()
        if not out:
            return value
        out.append(value[pos:])
        return "".join(out)

    def value(self, value: Any, counts: Counter[str]) -> Any:
        """A JSON value cleaned recursively: secret-named keys emptied, strings scanned."""
        if isinstance(value, str):
            return self.text(value, counts)
        if isinstance(value, dict):
            cleaned = {}
            for key, item in value.items():
                if isinstance(key, str) and self.is_secret_field(key) and item not in (None, "", [], {}):
                    counts["secret"] += 1
                    cleaned[key] = "[REDACTED]"
                else:
                    cleaned[key] = self.value(item, counts)
            return cleaned
        if isinstance(value, list):
            return [self.value(item, counts) for item in value]
        return value

    @staticmethod
    def _sub(value: str, name: str, pattern: re.Pattern[str], check: Callable[[str], bool] | None,
             mask: str, counts: Counter[str]) -> str:
        def replace(match: re.Match[str]) -> str:
            if check is not None and not check(match.group(0)):
                return match.group(0)
            counts[name] += 1
            return mask

        return pattern.sub(replace, value)
