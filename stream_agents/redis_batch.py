"""Commands issued in the same event-loop turn go to Redis together: one pipeline, one round trip.

A replay batch starts hundreds of pairs at once and each claims its pair first; calls then finish in
bursts and each stores its result. Sent one by one, that is a connection checkout, a send and a wait
per command, which cost more CPU than the challenger call itself. Queued for one loop turn and sent
as a non-transactional pipeline, each command keeps its own reply or error, and the callers' code
stays one `await` per command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

__all__ = ["RedisBatcher"]

QueueCommand = Callable[[Pipeline], Awaitable[Any]]


class RedisBatcher:
    def __init__(self, client: aioredis.Redis, max_batch: int = 1000) -> None:
        self._client = client
        self._max_batch = max_batch
        self._queue: list[tuple[QueueCommand, asyncio.Future[Any]]] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self.round_trips = 0  # for tests and metrics: pipelines sent

    async def submit(self, queue_command: QueueCommand) -> Any:
        """Queue one command (`queue_command(pipe)` adds it to a pipeline); its reply, or its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((queue_command, future))
        if len(self._queue) == 1:
            loop.call_soon(self._start_flush)  # after every task already scheduled this turn has queued
        elif len(self._queue) >= self._max_batch:
            self._start_flush()
        return await future

    def _start_flush(self) -> None:
        batch, self._queue = self._queue, []
        if batch:
            task = asyncio.ensure_future(self._flush(batch))
            self._flushes.add(task)
            task.add_done_callback(self._flushes.discard)

    async def _flush(self, batch: list[tuple[QueueCommand, asyncio.Future[Any]]]) -> None:
        self.round_trips += 1
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for queue_command, _future in batch:
                    await queue_command(pipe)
                replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # Redis unreachable: every caller in the batch gets the error
            for _queue_command, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for (_queue_command, future), reply in zip(batch, replies):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
