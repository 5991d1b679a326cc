"""Shared setup of the worker benchmarks: a private local stack, sim models, worker processes."""

from __future__ import annotations

import json
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

from schemas.settings import ChallengerConfig, Settings
from shadow_optic.child_env import settings_env
from shadow_optic.stack.launcher import LocalStack, resolve_settings
from shadow_optic.stack.processes import ManagedProcess, free_port, start_process, wait_until

REPO = Path(__file__).resolve().parents[1]


def http_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@contextmanager
def bench_stack():
    """A local stack in a temporary state dir (or the services named by SHADOW_* variables)."""
    state = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    stack = LocalStack(Settings(state_dir=state))
    stack.up(timeout_s=120, log=lambda _m: None)
    try:
        yield resolve_settings(Settings(state_dir=state))
    finally:
        stack.down()


class Children:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir, self.procs = log_dir, []

    def start(self, name: str, settings: Settings, *args: str) -> ManagedProcess:
        env = settings_env(settings)
        for field in type(settings).model_fields:  # nested models as JSON, whatever settings_env does
            value = getattr(settings, field)
            if hasattr(value, "model_dump"):
                env[f"SHADOW_{field.upper()}"] = json.dumps(value.model_dump(mode="json"))
        env["PYTHONPATH"] = str(REPO)
        proc = start_process(name, [sys.executable, "-m", "shadow_optic", *args], self.log_dir / f"{name}.log",
                             marker="shadow_optic", env=env, cwd=REPO)
        self.procs.append(proc)
        return proc

    def sim(self, settings: Settings, name: str, *flags: str) -> str:
        port = free_port()
        proc = self.start(name, settings, "sim-model", "--port", str(port), "--model", name, *flags)
        wait_until(lambda: http_json(f"http://127.0.0.1:{port}/healthz")["status"] == "ok", 60, name, proc)
        return f"http://127.0.0.1:{port}/v1"

    def fixed(self, name: str = "fixed-challenger") -> str:
        """The trivially fast responder (bench_worker_responder.py): the benchmark measures the worker."""
        port = free_port()
        proc = start_process(name, [sys.executable, str(REPO / "bench" / "bench_worker_responder.py"), "--port",
                                    str(port)], self.log_dir / f"{name}.log", marker="bench_worker_responder",
                             cwd=REPO)
        self.procs.append(proc)
        wait_until(lambda: http_json(f"http://127.0.0.1:{port}/healthz")["status"] == "ok", 30, name, proc)
        return f"http://127.0.0.1:{port}/v1"

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop(timeout_s=15)
        self.procs = []


def run_settings(base: Settings, **update: object) -> Settings:
    run = uuid.uuid4().hex[:8]
    return base.model_copy(update={"topic_prefix": f"b{run}.", "consumer_group": f"bench-{run}",
                                   "app_name": f"bench-{run}", "worker_web_port": 0, **update})


def challenger(name: str, url: str, **extra: object) -> ChallengerConfig:
    return ChallengerConfig(name=name, base_url=url, model=name, **extra)


def wait_rows(client, app: str, expected: int, timeout_s: float, proc: ManagedProcess | None = None
              ) -> tuple[float, int]:
    """(when, count) once `expected` rows are in; stops early, with its log, if `proc` has died."""
    deadline, count = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise SystemExit(f"{proc.name} exited while {count}/{expected} rows were in:\n{proc.log_tail()}")
        count = int(client.command("SELECT count() FROM shadow_scores WHERE app = {a:String}", parameters={"a": app}))
        if count >= expected:
            break
        time.sleep(0.1)
    return time.monotonic(), count
