import pytest

from infra.clickhouse import connect, redact_url
from schemas.errors import ConfigError


def test_an_unknown_url_scheme_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="SHADOW_CLICKHOUSE_URL"):
        connect("postgres://x")


def test_passwords_do_not_reach_messages():
    assert "hunter2" not in redact_url("http://user:hunter2@host:8123/db")
