"""`shadow-optic stack up | down | status`: Kafka, Redis and ClickHouse, real, on loopback.

A service whose SHADOW_*_URL/BOOTSTRAP is set is used as it is and never started or stopped here.
What `up` starts is recorded in <state_dir>/stack.json; `down` stops exactly those processes.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from infra.clickhouse import connect, redact_url
from schemas.clickhouse import migrate

from schemas.errors import ConfigError, StackError
from schemas.settings import Settings
from shadow_optic.stack.kafka_broker import ensure_kafka_jars, start_kafka, wait_for_kafka
from shadow_optic.stack.processes import ManagedProcess, ensure_port_free, free_port, start_process, wait_until
from shadow_optic.stack.redis_server import start_redis, wait_for_redis

__all__ = ["LocalStack", "ServiceInfo", "StackState", "resolve_settings"]

ServiceName = Literal["kafka", "redis", "clickhouse"]


class ServiceInfo(BaseModel):
    name: ServiceName
    url: str
    process: ManagedProcess | None = None  # None: an external service this stack never stops

    @property
    def external(self) -> bool:
        return self.process is None

    def describe(self) -> str:
        if self.process is None:
            return f"{self.name:<10} external  {redact_url(self.url)}"
        mark = "running" if self.process.alive() else "STOPPED"
        return f"{self.name:<10} {mark:<9} {self.url}  (pid {self.process.pid}, log {self.process.log_file})"


class StackState(BaseModel):
    services: dict[str, ServiceInfo] = {}


class LocalStack:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._state_file = settings.state_dir / "stack.json"

    # -- state ---------------------------------------------------------------------------------
    def load(self) -> StackState:
        try:
            return StackState.model_validate_json(self._state_file.read_text())
        except FileNotFoundError:
            return StackState()
        except ValueError as exc:
            raise StackError(f"{self._state_file} is unreadable ({exc}); remove it and run `stack up` again") from exc

    def _save(self, state: StackState) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        self._state_file.write_text(state.model_dump_json(indent=2))

    # -- up / down / status --------------------------------------------------------------------
    def up(self, timeout_s: float = 120.0, log=lambda msg: print(msg, file=sys.stderr)) -> StackState:
        """Start what is not running yet; on any failure stop what this call started and raise."""
        state = self.load()
        started: list[ManagedProcess] = []
        try:
            for name in ("kafka", "redis", "clickhouse"):
                current = state.services.get(name)
                external_url = self._external_url(name)
                if external_url is not None:
                    info = ServiceInfo(name=name, url=external_url)
                    self._wait_ready(info, timeout_s)
                elif current is not None and current.process is not None and current.process.alive():
                    info = current
                else:
                    began = time.monotonic()
                    info = self._start(name)
                    started.append(info.process)
                    self._wait_ready(info, timeout_s)
                    log(f"started {name} at {info.url} in {time.monotonic() - began:.1f}s")
                state.services[name] = info
            migrate_client = connect(state.services["clickhouse"].url)
            try:
                migrate(migrate_client)
            finally:
                migrate_client.close()
        except BaseException:
            for process in reversed(started):
                process.stop()
            raise
        self._save(state)
        return state

    def down(self, names: list[str] | None = None) -> list[str]:
        """Stop the processes `up` started (all, or only `names`); external services are left alone."""
        state = self.load()
        stopped = []
        for name, info in list(state.services.items()):
            if info.process is not None and (names is None or name in names):
                if info.process.alive():
                    info.process.stop()
                    stopped.append(name)
                del state.services[name]
        self._save(state)
        return stopped

    def status(self) -> list[str]:
        state = self.load()
        lines = []
        for name in ("kafka", "redis", "clickhouse"):
            external_url = self._external_url(name)
            if external_url is not None:
                lines.append(ServiceInfo(name=name, url=external_url).describe())
            elif name in state.services:
                lines.append(state.services[name].describe())
            else:
                lines.append(f"{name:<10} not started (run `shadow-optic stack up`)")
        return lines

    # -- per service ---------------------------------------------------------------------------
    def _external_url(self, name: str) -> str | None:
        s = self._settings
        return {"kafka": s.kafka_bootstrap, "redis": s.redis_url, "clickhouse": s.clickhouse_url}[name]

    def _port(self, configured: int, what: str, setting: str) -> int:
        if configured == 0:
            return free_port()
        ensure_port_free(configured, what, setting)
        return configured

    def _start(self, name: str) -> ServiceInfo:
        s = self._settings
        if name == "kafka":
            libs = ensure_kafka_jars(s.cache_dir, s.kafka_version)
            port = self._port(s.kafka_port, "Kafka", "SHADOW_KAFKA_PORT")
            process = start_kafka(libs, s.state_dir / "kafka", port, free_port())
            return ServiceInfo(name="kafka", url=f"127.0.0.1:{port}", process=process)
        if name == "redis":
            port = self._port(s.redis_port, "Redis", "SHADOW_REDIS_PORT")
            return ServiceInfo(name="redis", url=f"redis://127.0.0.1:{port}/0",
                               process=start_redis(s.state_dir / "redis", port))
        port = self._port(s.clickhouse_port, "ClickHouse", "SHADOW_CLICKHOUSE_PORT")
        data_dir = s.state_dir / "clickhouse"
        data_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "shadow_optic.stack.chdb_server", "--path", str(data_dir),
                "--host", "127.0.0.1", "--port", str(port)]
        process = start_process("clickhouse", argv, s.state_dir / "clickhouse.log", marker=str(data_dir),
                                cwd=Path(__file__).resolve().parents[2])
        return ServiceInfo(name="clickhouse", url=f"http://127.0.0.1:{port}", process=process)

    def _wait_ready(self, info: ServiceInfo, timeout_s: float) -> None:
        if info.name == "kafka":
            wait_for_kafka(info.url, info.process, timeout_s)
        elif info.name == "redis":
            wait_for_redis(info.url, info.process, timeout_s)
        elif info.url.startswith("chdb:"):
            return  # in-process engine: nothing to wait for
        else:
            wait_until(lambda: _http_ping(info.url), timeout_s, f"ClickHouse at {redact_url(info.url)}", info.process)


def _http_ping(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with urllib.request.urlopen(f"{parts.scheme}://{parts.hostname}:{parts.port or 8123}/ping", timeout=2) as resp:
        return resp.status == 200


def resolve_settings(settings: Settings) -> Settings:
    """Fill unset service addresses from the running local stack; fail clearly when there is none."""
    missing = {name: value for name, value in
               (("kafka", settings.kafka_bootstrap), ("redis", settings.redis_url),
                ("clickhouse", settings.clickhouse_url)) if value is None}
    if not missing:
        return settings
    state = LocalStack(settings).load()
    update = {}
    for name in missing:
        info = state.services.get(name)
        if info is None or (info.process is not None and not info.process.alive()):
            variable = {"kafka": "SHADOW_KAFKA_BOOTSTRAP", "redis": "SHADOW_REDIS_URL",
                        "clickhouse": "SHADOW_CLICKHOUSE_URL"}[name]
            raise ConfigError(f"no {name} to talk to: run `shadow-optic stack up` first, or set {variable}")
        update[{"kafka": "kafka_bootstrap", "redis": "redis_url", "clickhouse": "clickhouse_url"}[name]] = info.url
    return settings.model_copy(update=update)


def state_summary(state: StackState) -> str:
    return json.dumps({name: info.url for name, info in state.services.items()})


__all__ += ["state_summary"]
