"""The pipeline on a secured cluster: gateway -> Kafka (SASL_SSL, SCRAM) -> worker -> ClickHouse, the lag
monitor and a backfill, all logging in with the credentials `stack up --secure` made; a client without
them is refused; no password reaches a log or a --json output."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from infra.clickhouse import connect
from infra.kafka_clients import kafka_config
from shadow_optic.child_env import settings_env
from shadow_optic.stack.processes import free_port, wait_until
from tests.integration.conftest import DATA_DIR, REPO_ROOT, challenger, http_json, wait_for_rows

pytestmark = pytest.mark.integration
PAIRS = DATA_DIR / "paired_responses.jsonl"


def _cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run([sys.executable, "-m", "shadow_optic", *args], env=env, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=180)


def _secrets(settings) -> list[str]:
    return [settings.kafka_sasl_password.get_secret_value(), settings.redis_password.get_secret_value()]


def test_the_stack_is_secured_and_a_client_without_credentials_is_refused(secured_stack_settings):
    settings = secured_stack_settings
    assert settings.kafka_security.protocol == "SASL_SSL" and settings.redis_password is not None
    with_credentials = AdminClient(kafka_config(settings.kafka_bootstrap, settings.kafka_security))
    assert with_credentials.list_topics(timeout=30).brokers

    # No credentials at all (PLAINTEXT on a SASL_SSL listener), and the right TLS with a wrong password.
    anonymous = AdminClient({"bootstrap.servers": settings.kafka_bootstrap, "log_level": 0})
    with pytest.raises(KafkaException):
        anonymous.list_topics(timeout=5)
    wrong = settings.kafka_security.model_copy(update={"sasl_password": settings.redis_password})
    intruder = AdminClient(kafka_config(settings.kafka_bootstrap, wrong, {"log_level": 0}))
    with pytest.raises(KafkaException):
        intruder.list_topics(timeout=5)

    with redis.Redis.from_url(settings.redis_url, socket_timeout=5) as no_password:
        with pytest.raises(redis.AuthenticationError):
            no_password.ping()
    with redis.Redis.from_url(settings.redis_url, password=settings.redis_password.get_secret_value()) as client:
        assert client.ping()

    status = _cli(settings.model_copy(update={"kafka_bootstrap": None, "redis_url": None, "clickhouse_url": None}),
                  "stack", "status")
    assert status.returncode == 0 and "secured: SASL_SSL" in status.stdout, status.stdout + status.stderr
    assert not any(secret in status.stdout + status.stderr for secret in _secrets(settings))


def test_gateway_worker_lag_monitor_and_backfill_run_on_the_secured_stack(secured_settings, processes):
    pairs = [json.loads(line) for line in open(PAIRS, encoding="utf-8")][:12]
    answers = str(PAIRS)
    production_url, _ = processes.sim_model(secured_settings, "gpt-4", "--answers", answers,
                                            "--field", "production_response")
    challenger_url, _ = processes.sim_model(secured_settings, "davinci", "--answers", answers,
                                            "--field", "challenger_response")
    later_url, _ = processes.sim_model(secured_settings, "later", "--answers", answers,
                                       "--field", "challenger_response")
    gateway_port = free_port()
    settings = secured_settings.model_copy(update={
        "production_url": production_url, "gateway_port": gateway_port,
        "challengers": [challenger("davinci", challenger_url)]})
    worker = processes.start("worker", settings, "worker")
    gateway = processes.start("gateway", settings, "gateway")
    base = f"http://127.0.0.1:{gateway_port}"
    wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, "gateway", gateway)
    started = datetime.now(UTC) - timedelta(seconds=5)

    with httpx.Client(timeout=30) as client:
        for pair in pairs:
            response = client.post(f"{base}/v1/chat/completions",
                                   json={"model": "gpt-4", "messages": [{"role": "user", "content": pair["prompt"]}]})
            assert response.status_code == 200

    store = connect(settings.clickhouse_url)
    try:
        # gateway -> Kafka (SASL_SSL) -> worker (Faust/aiokafka with SCRAM over TLS) -> ClickHouse
        assert wait_for_rows(store, settings.app_name, len(pairs), process=worker) == len(pairs)

        # The lag monitor logs in too: the worker's group has consumed everything.
        def caught_up() -> bool:
            lag = _cli(settings, "lag", "--group", settings.consumer_group, "--json")
            assert lag.returncode == 0, lag.stderr
            groups = json.loads(lag.stdout.strip().splitlines()[-1])
            return groups[0]["partitions"] != [] and groups[0]["total_lag"] == 0
        wait_until(caught_up, 60, "the worker's group to show zero lag on the secured broker", worker)

        # A backfill of the same stretch for a challenger the worker never had.
        until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
        since = started.isoformat().replace("+00:00", "Z")
        replay_settings = settings.model_copy(update={"challengers": [challenger("later", later_url)],
                                                      "backfill_qps": 1000.0})
        backfill = _cli(replay_settings, "replay", "--challenger", "later", "--from", since, "--to", until,
                        "--json", "--no-progress")
        assert backfill.returncode == 0, backfill.stdout + backfill.stderr[-3000:]
        report = json.loads(backfill.stdout.strip().splitlines()[-1])
        assert report["selected"] == len(pairs) and report["called"] == len(pairs), report
        assert wait_for_rows(store, settings.app_name, 2 * len(pairs), process=worker) == 2 * len(pairs)
        assert http_json(later_url.removesuffix("/v1") + "/healthz")["requests"] == len(pairs)
    finally:
        store.close()

    outputs = backfill.stdout + backfill.stderr + worker.log_tail(100_000) + gateway.log_tail(100_000)
    assert not any(secret in outputs for secret in _secrets(settings))
