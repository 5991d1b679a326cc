"""A real redis-server on loopback, without persistence (the local stack's state is disposable).

`persistent=True` (tests that stop and restart Redis) keeps every write in an append-only file
fsynced before each reply, so a restart on the same data dir, even after kill -9, loses nothing.
With a `password` (`stack up --secure`) it is given in a config file readable by its owner only, never
on the command line, where `ps` would show it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pydantic import SecretStr

from infra.clickhouse import redact_url
from schemas.errors import StackError
from shadow_optic.stack.processes import ManagedProcess, start_process, wait_until

__all__ = ["start_redis", "wait_for_redis"]


def start_redis(data_dir: Path, port: int, persistent: bool = False, password: SecretStr | None = None) -> ManagedProcess:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("`redis-server` is not on PATH: install it (Debian: `apt-get install -y redis-server`) "
                         "or set SHADOW_REDIS_URL to an existing Redis")
    data_dir.mkdir(parents=True, exist_ok=True)
    config: list[str] = []
    if password is not None:
        conf = data_dir / "redis-auth.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"requirepass {password.get_secret_value()}\n")
        config = [str(conf)]
    durability = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    argv = [binary, *config, "--bind", "127.0.0.1", "--port", str(port), "--save", "", *durability,
            "--dir", str(data_dir), "--protected-mode", "yes", "--daemonize", "no"]
    return start_process("redis", argv, data_dir / "redis.log", marker=f":{port}")


def wait_for_redis(url: str, process: ManagedProcess | None, timeout_s: float,
                   password: SecretStr | None = None) -> None:
    import redis

    secret = password.get_secret_value() if password is not None else None

    def ping() -> bool:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1, password=secret) as client:
            return bool(client.ping())

    wait_until(ping, timeout_s, f"Redis at {redact_url(url)}", process)
