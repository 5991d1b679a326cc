"""No password reaches a repr, a status line, a --json dump, an error message or a log line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.redis_clients import redis_options
from schemas.settings import Settings
from shadow_optic.cli import main
from shadow_optic.stack.launcher import SecuredAccess, ServiceInfo
from shadow_optic.stack.processes import ManagedProcess

KAFKA_PW, REDIS_PW, CH_PW, KEY_PW = "kafka-pw-7f3a", "redis-pw-91bc", "clickhouse-pw-2d4e", "key-pw-55aa"
SECRETS = (KAFKA_PW, REDIS_PW, CH_PW, KEY_PW)


def _settings() -> Settings:
    return Settings(kafka_bootstrap="k:9093", kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
                    kafka_sasl_username="svc", kafka_sasl_password=KAFKA_PW, kafka_ssl_key_password=KEY_PW,
                    redis_url="rediss://r:6380/0", redis_username="shadow", redis_password=REDIS_PW,
                    clickhouse_url="https://ch:8443/db", clickhouse_username="shadow", clickhouse_password=CH_PW)


def _clean(text: str) -> bool:
    return not any(secret in text for secret in SECRETS)


def test_settings_repr_json_and_descriptions_hide_the_passwords():
    settings = _settings()
    assert _clean(repr(settings)) and _clean(str(settings))
    assert _clean(settings.model_dump_json()) and _clean(str(settings.model_dump()))
    assert _clean(settings.kafka_security.describe()) and _clean(repr(settings.kafka_security))
    assert _clean(repr(settings.redis_security)) and _clean(repr(settings.clickhouse_security))
    assert settings.kafka_security.describe() == "SASL_SSL, SCRAM-SHA-256 user svc, CA system"


def test_a_rejected_configuration_never_echoes_a_password(monkeypatch, capsys):
    with pytest.raises(ValidationError) as caught:
        Settings(kafka_security_protocol="PLAINTEXT", kafka_sasl_username="svc", kafka_sasl_password=KAFKA_PW,
                 redis_password=REDIS_PW, clickhouse_password=CH_PW, sample_ratio=7)
    assert "sample_ratio" in str(caught.value) and _clean(str(caught.value))

    monkeypatch.setenv("SHADOW_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("SHADOW_KAFKA_SASL_PASSWORD", KAFKA_PW)  # set, but the protocol does not use SASL
    monkeypatch.setenv("SHADOW_REDIS_PASSWORD", REDIS_PW)
    assert main(["stack", "status"]) == 2
    err = capsys.readouterr().err
    assert "does not use SASL" in err and _clean(err)


def test_stack_status_names_the_login_and_the_file_never_the_password(tmp_path):
    secrets_file = tmp_path / "secrets.json"
    secrets_file.write_text(f'{{"kafka_client_password": "{KAFKA_PW}"}}')
    access = SecuredAccess(protocol="SASL_SSL", mechanism="SCRAM-SHA-512", username="shadow",
                           ca_file=tmp_path / "ca.pem", secrets_file=secrets_file, secret_name="kafka_client_password")
    info = ServiceInfo(name="kafka", url="127.0.0.1:9093", access=access,
                       process=ManagedProcess(name="kafka", pid=1, marker="never-matches", log_file="/dev/null"))
    line = info.describe()
    assert "SASL_SSL" in line and "user shadow" in line and str(secrets_file) in line and _clean(line)
    assert _clean(info.model_dump_json())  # what stack.json holds
    assert access.password().get_secret_value() == KAFKA_PW  # and what clients read from the 0600 file


def test_redis_options_carry_auth_and_the_ca_only_for_rediss(tmp_path):
    settings = _settings()
    options = redis_options(settings.redis_url, settings.redis_security)
    assert options == {"password": REDIS_PW, "username": "shadow"}  # no CA file: the system's CAs
    with_ca = settings.model_copy(update={"redis_ca_file": tmp_path / "ca.pem"})
    assert redis_options("rediss://r:6380/0", with_ca.redis_security)["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert "ssl_ca_certs" not in redis_options("redis://r:6379/0", with_ca.redis_security)  # plain connection class
    assert redis_options("redis://r:6379/0", None) == {}


def test_child_processes_get_the_credentials_and_tokens_through_their_environment(monkeypatch):
    from shadow_optic.child_env import settings_env

    settings = Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc", kafka_sasl_password=KAFKA_PW,
                        redis_password=REDIS_PW, api_tokens=[{"name": "ops", "role": "admin", "token": "t" * 24}])
    for key, value in settings_env(settings, base={}).items():
        monkeypatch.setenv(key, value)
    rebuilt = Settings()
    assert rebuilt.kafka_sasl_password.get_secret_value() == KAFKA_PW
    assert rebuilt.redis_password.get_secret_value() == REDIS_PW
    assert rebuilt.api_tokens[0].token.get_secret_value() == "t" * 24 and rebuilt.api_tokens[0].role == "admin"
