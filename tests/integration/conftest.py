"""The real local stack for integration tests: Kafka (KRaft), Redis and ClickHouse (chDB server).

Started once per test session in a temporary state dir by the project's own launcher (jars cached in
~/.cache/shadow-optic); services given by SHADOW_KAFKA_BOOTSTRAP / SHADOW_REDIS_URL /
SHADOW_CLICKHOUSE_URL are used instead. Each test gets its own topic prefix and consumer group.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.clickhouse import connect
from schemas.settings import ChallengerConfig, Settings
from shadow_optic.child_env import settings_env
from shadow_optic.data_files import data_dir
from shadow_optic.stack.launcher import LocalStack, resolve_settings
from shadow_optic.stack.processes import ManagedProcess, free_port, start_process, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = data_dir()  # the repository's data/ (data/README.md)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = Settings(state_dir=tmp_path_factory.mktemp("stack"))
    stack = LocalStack(settings)
    stack.up(timeout_s=120, log=lambda _msg: None)
    try:
        yield resolve_settings(settings)
    finally:
        stack.down()


def private_run(settings: Settings, topic_letter: str = "t", app_prefix: str = "test") -> Settings:
    """`settings` with a topic prefix, consumer group and app of this test's own."""
    run = uuid.uuid4().hex[:10]
    return settings.model_copy(update={
        "topic_prefix": f"{topic_letter}{run}.", "consumer_group": f"shadow-optic-{run}",
        "app_name": f"{app_prefix}-{run}", "worker_web_port": 0, "sink_batch_seconds": 0.3,
    })


@pytest.fixture
def pipeline_settings(stack_settings: Settings) -> Settings:
    """Stack addresses plus a private topic prefix and consumer group for this test."""
    return private_run(stack_settings)


@pytest.fixture
def clickhouse(stack_settings: Settings):
    client = connect(stack_settings.clickhouse_url)
    yield client
    client.close()


class ProcessGroup:
    """Child processes of one test (`python -m shadow_optic …`), stopped at its end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: list[ManagedProcess] = []

    def start(self, name: str, settings: Settings, *args: str, pythonpath: tuple[Path, ...] = ()) -> ManagedProcess:
        env = settings_env(settings)
        env["PYTHONPATH"] = ":".join(str(p) for p in (REPO_ROOT, *pythonpath))  # more: a test's own modules
        process = start_process(name, [sys.executable, "-m", "shadow_optic", *args], self.log_dir / f"{name}.log",
                                marker="shadow_optic", env=env, cwd=REPO_ROOT)
        self.processes.append(process)
        return process

    def sim_model(self, settings: Settings, name: str, *flags: str) -> tuple[str, ManagedProcess]:
        port = free_port()
        process = self.start(name, settings, "sim-model", "--port", str(port), "--model", name, *flags)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_json(f"{base}/healthz")["status"] == "ok", 60, f"sim model {name}", process)
        return f"{base}/v1", process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop(timeout_s=15)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(tmp_path / "logs")
    try:
        yield group
    finally:
        group.stop_all()


def http_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def challenger(name: str, base_url: str, **extra: object) -> ChallengerConfig:
    return ChallengerConfig(name=name, base_url=base_url, model=name, **extra)


def wait_for_rows(client, app: str, expected: int, timeout_s: float = 90.0, process: ManagedProcess | None = None,
                  settle_s: float = 0.0) -> int:
    """Poll distinct scored rows of `app` until `expected`; then optionally wait `settle_s` for extras."""
    deadline = time.monotonic() + timeout_s
    count = 0
    while time.monotonic() < deadline:
        count = client.command("SELECT count() FROM shadow_scores FINAL WHERE app = {app:String}",
                               parameters={"app": app})
        if count >= expected:
            break
        if process is not None and not process.alive():
            raise AssertionError(f"{process.name} exited:\n{process.log_tail(40)}")
        time.sleep(0.3)
    if settle_s:
        time.sleep(settle_s)
        count = client.command("SELECT count() FROM shadow_scores FINAL WHERE app = {app:String}",
                               parameters={"app": app})
    return int(count)
