import socket
import sys

import pytest

from schemas.errors import StackError
from shadow_optic.stack.processes import ensure_port_free, start_process, wait_until


def test_a_port_in_use_names_the_setting_that_fixes_it():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(StackError, match="SHADOW_REDIS_PORT"):
            ensure_port_free(port, "Redis", "SHADOW_REDIS_PORT")


def test_a_process_that_dies_early_is_reported_with_its_log(tmp_path):
    process = start_process("crasher", [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"],
                            tmp_path / "crasher.log", marker="boom")
    with pytest.raises(StackError, match="boom: bad config"):
        wait_until(lambda: False, 10, "crasher", process)


def test_stop_ends_only_our_process(tmp_path):
    process = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                            tmp_path / "sleeper.log", marker="time.sleep(60)")
    assert process.alive()
    process.stop(timeout_s=5)
    assert not process.alive()


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path):
    process = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                            tmp_path / "sleeper.log", marker="time.sleep(60)")
    try:
        impostor = process.model_copy(update={"marker": "something-else-entirely"})
        assert not impostor.alive()
        impostor.stop()  # must not kill the real process
        assert process.alive()
    finally:
        process.stop(timeout_s=5)



def test_free_port_never_hands_out_the_same_port_twice_even_when_the_kernel_does(monkeypatch):
    import shadow_optic.stack.processes as processes

    offered = iter([41000, 41000, 41001])  # the kernel offers a port it just freed again

    class OfferingSocket:
        def __init__(self, *_args):
            self.port = next(offered)

        def __enter__(self):
            return self

        def __exit__(self, *_exc):
            return False

        def bind(self, _address):
            pass

        def getsockname(self):
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(processes.socket, "socket", OfferingSocket)
    monkeypatch.setattr(processes, "_HANDED_OUT", processes.deque(maxlen=8))
    assert [processes.free_port(), processes.free_port()] == [41000, 41001]
