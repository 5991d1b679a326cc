"""The real worker (`shadow-optic worker`) with faults injected at named steps of the agents' bodies.

    python -m tests.integration.stream_agents.fault_worker FAULTS_JSON FIRED_FILE

FAULTS_JSON is a list of {"target", "call", "when"}: the `call`-th call of `target` raises a
RuntimeError once, "before" the real step runs or "after" it did (its side effects happened, its
caller sees a failure). Each fault that fires appends its target to FIRED_FILE. Settings come from
SHADOW_* as for the real worker. Targets:

    decode:<Model>     stream_agents.agents.pipeline.decode of an InferenceEvent, ShadowResult or ScoredRecord
    replay             ReplayStage.replay (the challenger calls of a batch)
    score_batch        Scorer.score_batch (inline in replay, or the scoring agent)
    send:<topic>       Topic.send to shadow.<topic> (results, scored, dlq) fails
    delivery:<topic>   Topic.send to shadow.<topic> is handed over, but its delivery reports a failure
    sink_write         ScoreSink.write (the ClickHouse insert)
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from pathlib import Path
from typing import Any


class Faults:
    def __init__(self, spec: list[dict], fired_file: Path) -> None:
        self.spec = spec
        self.calls: dict[str, int] = {}
        self.fired_file = fired_file

    def due(self, target: str, when: str) -> bool:
        """Count a call of `target` (once per call, at "before") and tell whether a fault fires now."""
        if when == "before":
            self.calls[target] = self.calls.get(target, 0) + 1
        n = self.calls.get(target, 0)
        for fault in self.spec:
            if fault["target"] == target and fault["call"] == n and fault.get("when", "before") == when \
                    and not fault.get("fired"):
                fault["fired"] = True
                with self.fired_file.open("a") as out:
                    out.write(f"{target}@{n}:{when}\n")
                return True
        return False

    def boom(self, target: str) -> RuntimeError:
        return RuntimeError(f"injected fault at {target}")


def install(faults: Faults) -> None:
    import faust.topics

    import stream_agents.agents.pipeline as pipeline_module
    from stream_agents.replay import ReplayStage
    from stream_agents.scoring.scorer import Scorer
    from stream_agents.sink import ScoreSink

    def wrap_async(owner: Any, name: str, target: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            if faults.due(target, "before"):
                raise faults.boom(target)
            result = await original(*args, **kwargs)
            if faults.due(target, "after"):
                raise faults.boom(target)
            return result

        setattr(owner, name, wrapper)

    wrap_async(ReplayStage, "replay", "replay")
    wrap_async(Scorer, "score_batch", "score_batch")
    wrap_async(ScoreSink, "write", "sink_write")

    original_decode = pipeline_module.decode

    def decode(raw: Any, model: type, max_bytes: int) -> Any:
        target = f"decode:{model.__name__}"
        if faults.due(target, "before"):
            raise faults.boom(target)
        return original_decode(raw, model, max_bytes)

    pipeline_module.decode = decode

    original_send = faust.topics.Topic.send

    async def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        topic = self.get_topic_name().rsplit(".", 1)[-1]
        if faults.due(f"send:{topic}", "before"):
            raise faults.boom(f"send:{topic}")
        future = await original_send(self, *args, **kwargs)
        if faults.due(f"delivery:{topic}", "before"):
            await future  # delivered; the worker is told it was not (the worst case: it may send twice)
            failed: asyncio.Future = asyncio.get_running_loop().create_future()
            failed.set_exception(faults.boom(f"delivery:{topic}"))
            return failed
        return future

    faust.topics.Topic.send = send


def main() -> None:
    from schemas.settings import Settings
    from shadow_optic.runners import run_worker
    from shadow_optic.stack.launcher import resolve_settings

    install(Faults(json.loads(sys.argv[1]), Path(sys.argv[2])))
    run_worker(resolve_settings(Settings()))


if __name__ == "__main__":
    main()
