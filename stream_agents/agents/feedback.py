"""The feedback agent: shadow.feedback -> ClickHouse shadow_feedback (outcomes and people's ratings).

Outcomes and ratings arrive later than the scores and join their events by id when read
(analytics/outcomes.py and analytics/people.py read them). Invalid feedback is dead-lettered with its reason;
a failed insert is an outage, retried by the batch guard, never acked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import EventT

from infra.clickhouse import connect
from infra.feedback import insert_feedback
from schemas.errors import InvalidEventError, StoreUnavailableError
from schemas.events import OutcomeFeedback, check_feedback
from stream_agents.agents.pipeline import Pipeline, deliver

__all__ = ["feedback_agent"]


def feedback_agent(pipeline: Pipeline, clickhouse_url: str) -> Callable[[faust.StreamT], Awaitable[None]]:
    client: list[Any] = [None]

    def insert(records: list[OutcomeFeedback]) -> None:
        if client[0] is None:
            client[0] = connect(clickhouse_url, pipeline.connections.clickhouse_security)
        insert_feedback(client[0], records)

    async def batch_body(batch: list[EventT]) -> None:
        sends: list = []
        records = []
        for event in batch:
            try:
                record = pipeline.decode(event, OutcomeFeedback)
                check_feedback(record)
            except InvalidEventError as exc:  # kept with its reason, never blocks the rest
                sends.append(pipeline.dead_letter(event, "feedback", str(exc)))
                continue
            records.append(record)
        pipeline.metrics.processed.labels("feedback").inc(len(batch))
        try:
            await asyncio.to_thread(insert, records)
        except Exception as exc:
            client[0] = None  # reconnect on the retry
            raise StoreUnavailableError(f"storing {len(records)} feedback rows failed: {exc}") from exc
        await deliver(sends)

    async def feedback(stream: faust.StreamT) -> None:
        try:
            await pipeline.run_batches("feedback", stream, batch_body, 500, pipeline.worker.sink_batch_seconds)
        finally:
            if client[0] is not None:
                client[0].close()

    return feedback
