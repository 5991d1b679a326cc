"""Starting, watching and stopping the local stack's processes, with nothing left half-started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from schemas.errors import StackError

__all__ = ["ManagedProcess", "free_port", "ensure_port_free", "start_process", "wait_until"]


class ManagedProcess(BaseModel):
    """A process the launcher started: enough to find it again and stop only it."""

    name: str
    pid: int
    marker: str  # a string in its command line, so a recycled pid is never taken for ours
    log_file: str

    def alive(self) -> bool:
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            return False
        stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[-1].split()
        return self.marker in cmdline and stat[0] != "Z"

    def stop(self, timeout_s: float = 20.0) -> None:
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(Path(self.log_file).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# Ports this process handed out lately: the kernel may give the same free port to two calls in a row
# (seen: Kafka's broker and controller listeners both on 50927, and the broker refused to format).
_HANDED_OUT: deque[int] = deque(maxlen=512)


def free_port() -> int:
    """A free loopback port that this process has not handed out lately."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.append(port)
            return port
    raise StackError("no free loopback port found that was not already handed out: is the machine out of ports?")


def ensure_port_free(port: int, what: str, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(
                f"port {port} for {what} is in use on 127.0.0.1: stop what holds it "
                f"(`ss -ltnp 'sport = :{port}'`) or choose another with {setting}=<port> (0 = any free port)"
            ) from None


def start_process(name: str, argv: list[str], log_file: Path, marker: str, env: dict[str, str] | None = None,
                  cwd: Path | None = None) -> ManagedProcess:
    """Start `argv` detached from our terminal (it outlives the CLI call), output to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env=env, cwd=cwd,
        )
    managed = ManagedProcess(name=name, pid=proc.pid, marker=marker, log_file=str(log_file))
    # Until exec() has happened the child's command line is still ours: wait for it, so that
    # alive() (which checks the marker) does not mistake a starting process for a dead one.
    deadline = time.monotonic() + 10
    while proc.poll() is None and not managed.alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    return managed


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, process: ManagedProcess | None = None) -> None:
    """Poll `check` until it is true; fail with the process's log when it died or time ran out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise StackError(f"{what}: the process exited early; last log lines ({process.log_file}):\n"
                             f"{process.log_tail()}")
        try:
            if check():
                return
        except Exception:  # not ready yet: any failure of the probe means "try again"
            pass
        time.sleep(0.2)
    tail = f"\nlast log lines ({process.log_file}):\n{process.log_tail()}" if process else ""
    raise StackError(f"{what}: not ready after {timeout_s:.0f}s{tail}")
