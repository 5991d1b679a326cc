"""docker/compose.yml keeps its secrets out of the file and its ports on loopback unless told otherwise.

(Validated by Debian's docker-compose 1.29 too: `docker-compose --env-file docker/secrets.env.example
-f docker/compose.yml config -q`; that tool is not a test dependency.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SUBSTITUTION = re.compile(r"^\$\{[A-Z_]+:\?[^}]+\}$")  # required, from docker/.env, with a message


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yml").read_text())


def _environments(doc: dict) -> list[tuple[str, dict]]:
    return [(name, service.get("environment") or {}) for name, service in doc["services"].items()]


def test_no_password_or_user_is_written_in_the_compose_file():
    doc = _compose()
    secret_names = re.compile(r"PASSWORD|CLICKHOUSE_USER|USERNAME")
    found = 0
    for service, env in _environments(doc):
        for key, value in env.items():
            if secret_names.search(key):
                found += 1
                assert SUBSTITUTION.match(str(value)), (service, key)
            assert "@" not in str(value) or not str(value).startswith(("http", "redis")), (service, key, "userinfo")
    assert found >= 4  # Redis and ClickHouse for the servers and for the project's processes


def test_redis_requires_a_password_given_by_a_file_not_the_command_line():
    redis = _compose()["services"]["redis"]
    command = " ".join(redis["command"])
    assert "requirepass" in command and "/tmp/auth.conf" in command and "--requirepass" not in command
    assert SUBSTITUTION.match(redis["environment"]["REDIS_PASSWORD"])
    assert "REDISCLI_AUTH" in " ".join(redis["healthcheck"]["test"])


def test_every_published_port_binds_to_loopback_unless_told_otherwise():
    ports = [(name, port) for name, service in _compose()["services"].items() for port in service.get("ports", [])]
    assert len(ports) >= 5
    for name, port in ports:
        assert str(port).startswith("${SHADOW_BIND_HOST:-127.0.0.1}:"), (name, port)


def test_the_example_env_file_names_every_variable_the_compose_file_requires():
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (DOCKER / "compose.yml").read_text()))
    example = {line.split("=", 1)[0] for line in (DOCKER / "secrets.env.example").read_text().splitlines()
               if line and not line.startswith("#")}
    assert required and required <= example
