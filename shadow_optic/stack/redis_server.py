"""A real redis-server on loopback, without persistence (the local stack's state is disposable).

`persistent=True` (tests that stop and restart Redis) keeps every write in an append-only file
fsynced before each reply, so a restart on the same data dir, even after kill -9, loses nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from schemas.errors import StackError
from shadow_optic.stack.processes import ManagedProcess, start_process, wait_until

__all__ = ["start_redis", "wait_for_redis"]


def start_redis(data_dir: Path, port: int, persistent: bool = False) -> ManagedProcess:
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("`redis-server` is not on PATH: install it (Debian: `apt-get install -y redis-server`) "
                         "or set SHADOW_REDIS_URL to an existing Redis")
    data_dir.mkdir(parents=True, exist_ok=True)
    durability = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else ["--appendonly", "no"]
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", *durability,
            "--dir", str(data_dir), "--protected-mode", "yes", "--daemonize", "no"]
    return start_process("redis", argv, data_dir / "redis.log", marker=f":{port}")


def wait_for_redis(url: str, process: ManagedProcess | None, timeout_s: float) -> None:
    import redis

    def ping() -> bool:
        with redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
            return bool(client.ping())

    wait_until(ping, timeout_s, f"Redis at {url}", process)
