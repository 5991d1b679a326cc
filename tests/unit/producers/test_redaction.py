from collections import Counter

import pytest

from producers.redaction import Redactor, iban_valid, luhn_valid
from schemas.errors import ConfigError


@pytest.fixture
def redactor() -> Redactor:
    return Redactor()


def test_luhn_and_iban_checks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("DE89 3704 0044 0532 0130 00")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB82WEST12345698765433")


def test_pii_is_masked_and_counted(redactor: Redactor) -> None:
    counts: Counter[str] = Counter()
    text = ("Mail jane.doe@example.com or call +44 20 7946 0958 / (415) 555-2671; card 4111 1111 1111 1111, "
            "IBAN DE89370400440532013000.")
    out = redactor.text(text, counts)
    assert "jane.doe" not in out and "4111" not in out and "7946" not in out and "555-2671" not in out
    assert "DE8937" not in out
    assert counts == {"email": 1, "phone": 2, "card": 1, "iban": 1}
    assert "[EMAIL]" in out and "[CARD]" in out and "[IBAN]" in out and "[PHONE]" in out


def test_numbers_that_are_not_pii_are_left_alone(redactor: Redactor) -> None:
    counts: Counter[str] = Counter()
    text = "Order 4111111111111112 failed Luhn; version 1.2.3; ip 192.168.10.200; in 2023-11-22 it was 42.5 %."
    assert redactor.text(text, counts) == text
    assert not counts


def test_secrets_in_free_text(redactor: Redactor) -> None:
    counts: Counter[str] = Counter()
    text = ("key sk-proj-abcdefghijklmnop1234 and Bearer abc.def.ghi123 and AKIAIOSFODNN7EXAMPLE and "
            "password=hunter2hunter and ghp_0123456789abcdefghijABCDEFGHIJ0123")
    out = redactor.text(text, counts)
    for secret in ("sk-proj-abcdefghijklmnop1234", "abc.def.ghi123", "AKIAIOSFODNN7EXAMPLE", "hunter2hunter",
                   "ghp_0123456789"):
        assert secret not in out
    assert counts["secret"] == 5


def test_secret_named_fields_are_emptied_at_any_depth(redactor: Redactor) -> None:
    counts: Counter[str] = Counter()
    value = {"metadata": {"api_key": "plain-looking", "nested": [{"Client-Secret": "x1"}]}, "max_tokens": 5,
             "token": "", "note": "write to a@b.io"}
    out = redactor.value(value, counts)
    assert out["metadata"]["api_key"] == "[REDACTED]"
    assert out["metadata"]["nested"][0]["Client-Secret"] == "[REDACTED]"
    assert out["max_tokens"] == 5 and out["token"] == ""
    assert out["note"] == "write to [EMAIL]"
    assert counts == {"secret": 2, "email": 1}


def test_configured_patterns_and_kinds() -> None:
    redactor = Redactor(pii_kinds=["email"], patterns={"employee_id": r"\bEMP-\d{6}\b"})
    counts: Counter[str] = Counter()
    out = redactor.text("EMP-123456 at x@y.org, card 4111111111111111", counts)
    assert out == "[EMPLOYEE_ID] at [EMAIL], card 4111111111111111"
    assert counts == {"employee_id": 1, "email": 1}


def test_bad_configuration_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid regex"):
        Redactor(patterns={"bad": "("})
    with pytest.raises(ConfigError, match="unknown kinds"):
        Redactor(pii_kinds=["ssn"])
