"""`shadow-optic stack up | down | status`: Kafka, Redis and ClickHouse, real, on loopback.

A service whose SHADOW_*_URL/BOOTSTRAP is set is used as it is and never started or stopped here.
What `up` starts is recorded in <state_dir>/stack.json; `down` stops exactly those processes.
`up --secure` starts Kafka with a SASL_SSL listener (SCRAM users) and Redis with a password; stack.json
then records how to log in (user, CA file) and where the password is (a 0600 file), never the password.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, SecretStr

from infra.clickhouse import connect, redact_url
from schemas.clickhouse import OldSchemaError, migrate

from schemas.errors import ConfigError, StackError
from schemas.security import KafkaSecurity
from schemas.settings import Settings
from shadow_optic.stack.kafka_broker import ensure_kafka_jars, start_kafka, wait_for_kafka
from shadow_optic.stack.processes import ManagedProcess, ensure_port_free, free_port, start_process, wait_until
from shadow_optic.stack.redis_server import start_redis, wait_for_redis
from shadow_optic.stack.secure import KAFKA_CLIENT_USER, SecureMaterial, ensure_secure_material

__all__ = ["LocalStack", "ServiceInfo", "StackState", "resolve_settings"]

ServiceName = Literal["kafka", "redis", "clickhouse"]


class SecuredAccess(BaseModel):
    """How a client logs in to a service `up --secure` started; the password stays in `secrets_file`."""

    protocol: str | None = None  # Kafka: SASL_SSL
    mechanism: str | None = None  # Kafka: SCRAM-SHA-512 (SCRAM-SHA-256 works too)
    username: str | None = None
    ca_file: Path | None = None
    secrets_file: Path
    secret_name: str  # the password's key in secrets_file

    def password(self) -> SecretStr:
        try:
            return SecretStr(json.loads(self.secrets_file.read_text())[self.secret_name])
        except (OSError, ValueError, KeyError) as exc:
            raise StackError(f"cannot read the local stack's credentials in {self.secrets_file} ({type(exc).__name__}); "
                             "run `shadow-optic stack down` and `stack up --secure` again") from exc

    def describe(self) -> str:
        parts = [self.protocol or "AUTH"]
        if self.mechanism:
            parts.append(self.mechanism)
        if self.username:
            parts.append(f"user {self.username}")
        if self.ca_file:
            parts.append(f"CA {self.ca_file}")
        return f"secured: {', '.join(parts)}, password in {self.secrets_file}"

    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(protocol=self.protocol, sasl_mechanism=self.mechanism, sasl_username=self.username,
                             sasl_password=self.password(), ssl_ca_file=self.ca_file)


class ServiceInfo(BaseModel):
    name: ServiceName
    url: str
    process: ManagedProcess | None = None  # None: an external service this stack never stops
    access: SecuredAccess | None = None  # set when `up --secure` started it

    @property
    def external(self) -> bool:
        return self.process is None

    def describe(self) -> str:
        if self.process is None:
            return f"{self.name:<10} external  {redact_url(self.url)}"
        mark = "running" if self.process.alive() else "STOPPED"
        secured = f"  [{self.access.describe()}]" if self.access else ""
        return (f"{self.name:<10} {mark:<9} {self.url}  (pid {self.process.pid}, log {self.process.log_file})"
                f"{secured}")


class StackState(BaseModel):
    services: dict[str, ServiceInfo] = {}


class LocalStack:
    def __init__(self, settings: Settings, secure: bool = False) -> None:
        self._settings = settings
        self._secure = secure
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
                    if self._secure and name in ("kafka", "redis") and current.access is None:
                        raise StackError(f"{name} is already running without --secure: run `shadow-optic stack down` "
                                         "first, then `stack up --secure`")
                    info = current
                else:
                    began = time.monotonic()
                    info = self._start(name)
                    started.append(info.process)
                    self._wait_ready(info, timeout_s)
                    log(f"started {name} at {info.url} in {time.monotonic() - began:.1f}s")
                state.services[name] = info
            try:
                self._migrate(state.services["clickhouse"])
            except OldSchemaError:
                clickhouse = state.services["clickhouse"]
                if clickhouse.external or clickhouse.process not in started:
                    raise
                # The stack's own store, started by this call, holds a 0.1 schema: set it aside (kept, not
                # deleted) and start on a new one, so `stack up` and the demo keep working after an upgrade.
                clickhouse.process.stop()
                started.remove(clickhouse.process)
                old = self._settings.state_dir / "clickhouse"
                kept = old.with_name(f"clickhouse-0.1-{time.strftime('%Y%m%d-%H%M%S')}")
                old.rename(kept)
                log(f"the local ClickHouse store was built by Shadow-Optic 0.1 (rebuilt, not migrated: "
                    f"CHANGELOG.md); kept at {kept}, starting a new one")
                clickhouse = self._start("clickhouse")
                started.append(clickhouse.process)
                self._wait_ready(clickhouse, timeout_s)
                state.services["clickhouse"] = clickhouse
                self._migrate(clickhouse)
        except BaseException:
            for process in reversed(started):
                process.stop()
            raise
        self._save(state)
        return state

    def _migrate(self, clickhouse: ServiceInfo) -> None:
        # The stack's own ClickHouse takes no login; a server of yours gets SHADOW_CLICKHOUSE_USERNAME/_PASSWORD.
        client = connect(clickhouse.url, self._settings.clickhouse_security if clickhouse.external else None)
        try:
            migrate(client)
        finally:
            client.close()

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
        secure: SecureMaterial | None = ensure_secure_material(s.state_dir) if self._secure else None
        if name == "kafka":
            libs = ensure_kafka_jars(s.cache_dir, s.kafka_version)
            port = self._port(s.kafka_port, "Kafka", "SHADOW_KAFKA_PORT")
            # A secured broker has its own storage: its SCRAM users are written when the storage is formatted.
            data_dir = s.state_dir / ("kafka-secure" if secure else "kafka")
            process = start_kafka(libs, data_dir, port, free_port(), secure=secure)
            access = None if secure is None else SecuredAccess(
                protocol="SASL_SSL", mechanism="SCRAM-SHA-512", username=KAFKA_CLIENT_USER, ca_file=secure.ca_file,
                secrets_file=secure.secrets_file, secret_name="kafka_client_password")
            return ServiceInfo(name="kafka", url=f"127.0.0.1:{port}", process=process, access=access)
        if name == "redis":
            port = self._port(s.redis_port, "Redis", "SHADOW_REDIS_PORT")
            access = None if secure is None else SecuredAccess(secrets_file=secure.secrets_file,
                                                               secret_name="redis_password")
            return ServiceInfo(name="redis", url=f"redis://127.0.0.1:{port}/0", access=access,
                               process=start_redis(s.state_dir / "redis", port,
                                                   password=secure.redis_password if secure else None))
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
            security = info.access.kafka_security() if info.access else self._settings.kafka_security
            wait_for_kafka(info.url, info.process, timeout_s, security)
        elif info.name == "redis":
            password = info.access.password() if info.access else self._settings.redis_password
            wait_for_redis(info.url, info.process, timeout_s, password)
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
        if info.access is not None and name == "kafka":
            security = info.access.kafka_security()
            update.update(kafka_security_protocol=security.protocol, kafka_sasl_mechanism=security.sasl_mechanism,
                          kafka_sasl_username=security.sasl_username, kafka_sasl_password=security.sasl_password,
                          kafka_ssl_ca_file=security.ssl_ca_file)
        elif info.access is not None and name == "redis":
            update["redis_password"] = info.access.password()
    return settings.model_copy(update=update)


def state_summary(state: StackState) -> str:
    return json.dumps({name: info.url for name, info in state.services.items()})


__all__ += ["state_summary"]
