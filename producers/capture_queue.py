"""Capture off the serving loop: the exchange is handed to a thread through a bounded queue."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from producers.mirror import CaptureOutcome, Mirror

__all__ = ["CaptureQueue"]


class CaptureQueue:
    """Runs Mirror.capture on a thread of its own, fed through a bounded queue: the serving loop only
    hands over the references it already holds (µs), the thread parses, samples, caps, redacts, hashes,
    serialises and queues to Kafka. A full queue drops the exchange (counted as `queue_full`): the
    queue never grows past `maxsize` and the loop never waits on it.

    After each exchange the thread yields the GIL (time.sleep(0)), so the loop, when it has a
    request to answer, waits at most one exchange's capture for the interpreter.
    """

    def __init__(self, mirror: Mirror, maxsize: int = 10_000) -> None:
        self.mirror = mirror
        self.maxsize = maxsize
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="shadow-capture", daemon=True)
            self._thread.start()

    def submit(self, request: Any, response: Any = None, **kwargs: Any) -> bool:
        """Hand one exchange to the capture thread; False (and counted) when the queue is full. Never blocks."""
        try:
            self._queue.put_nowait({"request": request, "response": response, **kwargs})
        except queue.Full:
            self.mirror.counters.record(CaptureOutcome.QUEUE_FULL)
            return False
        return True

    def depth(self) -> int:
        return self._queue.qsize()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """True once every exchange handed over so far was captured (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Capture what is queued (up to `timeout_s`), then stop the thread."""
        if self._thread is None:
            return
        self.wait_idle(timeout_s)
        try:
            self._queue.put(None, timeout=1.0)
        except queue.Full:
            pass
        self._thread.join(timeout=2.0)
        self._thread = None

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                request, response = item.pop("request"), item.pop("response")
                self.mirror.capture(request, response, **item)  # never raises
            finally:
                self._queue.task_done()
            time.sleep(0)  # let the serving loop take the GIL between two captures
