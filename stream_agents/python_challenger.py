"""In-process challengers (kind `python`): a `package.module:callable` the worker imports once and calls.

What the callable gets: for a `json` event (a classical model behind /models/<name>/predict or a JSON
route) the request body production got (`request.params`); for chat/completion events the normalised
request as a dict (`model`, `messages`, `prompt`, `params`). What it returns: a string is the answer
text; anything else is kept as canonical JSON text, like the HTTP `json` kind (numpy values become
plain numbers), so scoring compares it with production's JSON answer the same way.

Batch-aware callables take a list and return a list of the same length: the first parameter is
annotated `list[...]`/`Sequence[...]`, or the callable has `shadow_batch = True`. The pairs of a
replay batch reach the client one by one (each after its own claim, breaker and limiter step), so
a micro-batcher gathers those that arrive within ~2 ms (at most `max_batch`) into one call.

Where it runs (`executor`, sync callables; async callables always run on the worker's loop):
`inline` on the loop (cheapest for fast models: no hop), `thread` (a model that releases the GIL),
`process` (CPU-bound Python: the worker's process pool, SHADOW_PYTHON_CHALLENGER_PROCESSES, each pool
process imports the target once). The per-call timeout applies to every executor; an inline call
cannot be interrupted, so one that overran is reported as a timeout after it returns.

Everything else (claims, allocation, breaker, rate limits, budgets, scoring) is the HTTP path's:
`PythonChallengerClient` has the `ChallengerClient` interface and `ReplayStage` treats both alike.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
import json
import time
import typing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import Any

import httpx

from schemas.errors import ConfigError
from schemas.events import InferenceEvent, ShadowStatus
from schemas.settings import ChallengerConfig, ModelPrice
from stream_agents.challenger_client import CallOutcome, ChallengerClient

__all__ = ["PythonChallengerClient", "PythonPools", "load_target", "is_batch_aware", "model_input", "answer_text"]

_BATCH_WAIT_S = 0.002  # how long the first pair of a micro-batch waits for others
_loaded: dict[str, Callable[..., Any]] = {}  # per process: each target imported once


def load_target(target: str) -> Callable[..., Any]:
    """The callable named `package.module:attr[.attr]`, imported once per process."""
    fn = _loaded.get(target)
    if fn is not None:
        return fn
    module_name, _, attr_path = target.partition(":")
    if not module_name or not attr_path:
        raise ConfigError(f"python challenger target {target!r}: write it as package.module:callable")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raised while loading its model
        raise ConfigError(f"python challenger target {target!r}: cannot import {module_name} "
                          f"({type(exc).__name__}: {exc}); is it on the worker's PYTHONPATH?") from exc
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"python challenger target {target!r}: {module_name} has no {attr_path}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"python challenger target {target!r} is a {type(obj).__name__}, not a callable")
    _loaded[target] = obj
    return obj


def is_batch_aware(fn: Callable[..., Any]) -> bool:
    """True when the callable takes a list of inputs (and returns a list of answers)."""
    flag = getattr(fn, "shadow_batch", None)
    if flag is not None:
        return bool(flag)
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    if not params or params[0].annotation is inspect.Parameter.empty:
        return False
    annotation = params[0].annotation
    if isinstance(annotation, str):  # `from __future__ import annotations`: resolve, or read the text
        try:
            annotation = typing.get_type_hints(fn)[params[0].name]
        except Exception:  # noqa: BLE001 - an unresolvable name: fall back to the text
            return annotation.replace("typing.", "").startswith(("list", "List", "Sequence", "collections.abc.Sequence"))
    origin = typing.get_origin(annotation) or annotation
    return origin in (list, Sequence, typing.List) or (inspect.isclass(origin) and issubclass(origin, list))


def model_input(event: InferenceEvent) -> Any:
    """What the callable receives for this event (see the module docstring)."""
    request = event.request
    if request.kind == "json":
        return request.params
    return {"model": request.model, "messages": [m.model_dump(exclude_none=True) for m in request.messages],
            "prompt": request.prompt, "params": request.params}


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def answer_text(answer: Any) -> str:
    """A string is the answer; anything else canonical JSON (sorted keys), as the HTTP json kind keeps it."""
    if isinstance(answer, str):
        return answer
    return json.dumps(answer, sort_keys=True, ensure_ascii=False, default=_plain)


def _call_in_pool(target: str, batch: bool, inputs: list[Any]) -> list[Any]:
    """Runs in a pool process: the target is imported there once (first call), then called."""
    fn = load_target(target)
    if batch:
        return list(fn(inputs))
    return [fn(x) for x in inputs]


class PythonPools:
    """The worker's process pools for executor=process, one per target, made on first use."""

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pools: dict[str, ProcessPoolExecutor] = {}

    def pool(self, target: str) -> ProcessPoolExecutor:
        pool = self._pools.get(target)
        if pool is None:
            # spawn, not fork: the worker has threads (librdkafka, the event loop's executors).
            pool = ProcessPoolExecutor(max_workers=self.processes, mp_context=get_context("spawn"),
                                       initializer=_warm_quietly, initargs=(target,))
            self._pools[target] = pool
        return pool

    def discard(self, target: str) -> None:
        """Forget a broken pool (a pool process died): the next call starts a new one."""
        pool = self._pools.pop(target, None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self._pools.clear()


def _warm_quietly(target: str) -> None:
    """Pool initializer: import the model before the first call; a failure shows on that call instead."""
    try:
        load_target(target)
    except ConfigError:
        pass


class _MicroBatcher:
    """Gathers the inputs that arrive within `wait_s` (at most `max_batch`) into one call of `run`."""

    def __init__(self, run: Callable[[list[Any]], Any], max_batch: int, wait_s: float = _BATCH_WAIT_S) -> None:
        self._run, self._max_batch, self._wait_s = run, max_batch, wait_s
        self._pending: list[tuple[Any, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()

    def submit(self, item: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._wait_s, self._flush)
        return future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.get_running_loop().create_task(self._call(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _call(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        try:
            answers = await self._run([item for item, _ in batch])
            if len(answers) != len(batch):
                raise ValueError(f"the batch callable returned {len(answers)} answers for {len(batch)} inputs")
        except Exception as exc:  # noqa: BLE001 - the model's error is each pair's outcome
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), answer in zip(batch, answers):
            if not future.done():  # a pair that timed out has stopped waiting
                future.set_result(answer)


class PythonChallengerClient(ChallengerClient):
    """A challenger called in process; the `ChallengerClient` interface, so replay treats both alike."""

    def __init__(self, config: ChallengerConfig, pools: PythonPools, price: ModelPrice | None = None,
                 http: httpx.AsyncClient | None = None) -> None:
        super().__init__(config, http, max_attempts=1, price=price)  # type: ignore[arg-type]
        self._pools = pools
        self._fn: Callable[..., Any] | None = None
        self._load_error: str | None = None
        self._batcher: _MicroBatcher | None = None
        self._is_async = False
        self._batch = False
        try:
            self._fn = load_target(config.target or "")
        except ConfigError as exc:
            self._load_error = str(exc)  # every call says so (and opens the breaker); the worker keeps running
            return
        self._is_async = inspect.iscoroutinefunction(self._fn) or inspect.iscoroutinefunction(
            getattr(self._fn, "__call__", None))
        self._batch = is_batch_aware(self._fn)
        if self._batch:
            self._batcher = _MicroBatcher(self._run_many, config.max_batch)

    @property
    def batch_aware(self) -> bool:
        return self._batch

    async def _run_many(self, inputs: list[Any]) -> list[Any]:
        """One call of the target for `inputs` (a batch-aware target gets the list; others one by one)."""
        fn, executor = self._fn, self.config.executor
        assert fn is not None
        if self._is_async:
            if self._batch:
                return list(await fn(inputs))
            return [await fn(x) for x in inputs]
        if executor == "process":
            target = self.config.target or ""
            loop = asyncio.get_running_loop()
            try:
                return await loop.run_in_executor(self._pools.pool(target),
                                                  functools.partial(_call_in_pool, target, self._batch, inputs))
            except BrokenProcessPool:
                self._pools.discard(target)  # these pairs fail (and count against the breaker); the next get a new pool
                raise
        if executor == "thread":
            return await asyncio.to_thread(_call_local, fn, self._batch, inputs)
        return _call_local(fn, self._batch, inputs)

    async def call(self, event: InferenceEvent) -> CallOutcome:
        if self._load_error is not None:
            return CallOutcome(self.result(event, ShadowStatus.ERROR, error=self._load_error), 1, None,
                               provider_fault=True)
        item, timeout = model_input(event), self.config.timeout_s
        started = time.perf_counter()
        try:
            if self._batcher is not None:
                answer = await asyncio.wait_for(self._batcher.submit(item), timeout)
            else:
                answer = (await asyncio.wait_for(self._run_many([item]), timeout))[0]
            latency_ms = (time.perf_counter() - started) * 1000
            if latency_ms > timeout * 1000:  # an inline call cannot be interrupted: it overran, say so
                raise TimeoutError
            text = answer_text(answer)
        except TimeoutError:
            return CallOutcome(self.result(event, ShadowStatus.TIMEOUT, error=f"no answer within {timeout}s",
                                           latency_ms=(time.perf_counter() - started) * 1000),
                               1, None, provider_fault=True)
        except Exception as exc:  # noqa: BLE001 - the model's own error is this pair's outcome
            return CallOutcome(self.result(event, ShadowStatus.ERROR, latency_ms=(time.perf_counter() - started) * 1000,
                                           error=f"{self.config.target} raised {type(exc).__name__}: {exc}"[:500]),
                               1, None, provider_fault=True)
        return CallOutcome(self.result(event, ShadowStatus.OK, response_text=text, latency_ms=latency_ms,
                                       cost_usd=self.estimate_cost(event)),  # 0 unless priced
                           1, None, provider_fault=False)


def _call_local(fn: Callable[..., Any], batch: bool, inputs: list[Any]) -> list[Any]:
    if batch:
        return list(fn(inputs))
    return [fn(x) for x in inputs]
