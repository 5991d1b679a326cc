"""A second local stack, secured (`stack up --secure`): Kafka with one SASL_SSL listener and SCRAM users,
Redis with a password. Started once per session in its own temporary state dir, only when a test here
asks for it; it never replaces the plain stack the other tests use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from schemas.settings import Settings
from shadow_optic.stack.launcher import LocalStack, resolve_settings
from tests.integration.conftest import private_run


@pytest.fixture(scope="session")
def secured_stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    # Explicit None/0: a SHADOW_KAFKA_BOOTSTRAP etc. given for the plain stack must not be used here.
    settings = Settings(state_dir=tmp_path_factory.mktemp("secured-stack"), kafka_bootstrap=None, redis_url=None,
                        clickhouse_url=None, kafka_port=0, redis_port=0, clickhouse_port=0)
    stack = LocalStack(settings, secure=True)
    stack.up(timeout_s=120, log=lambda _msg: None)
    try:
        yield resolve_settings(settings)
    finally:
        stack.down()


@pytest.fixture
def secured_settings(secured_stack_settings: Settings) -> Settings:
    """The secured stack with credentials, a private topic prefix and consumer group for this test."""
    return private_run(secured_stack_settings, "s", "secure")
