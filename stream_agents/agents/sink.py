"""The sink agent: shadow.scored -> ClickHouse (ScoreSink), and the sink's gauges."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import faust
from faust.types import EventT

from infra.clickhouse import connect
from schemas.events import ScoredRecord
from stream_agents.agents.pipeline import Pipeline, deliver
from stream_agents.sink import ScoreSink

__all__ = ["sink_agent", "SinkGauges"]


def sink_agent(pipeline: Pipeline, clickhouse_url: str, gauges: SinkGauges,
               answers_ttl_days: int = 30) -> Callable[[faust.StreamT], Awaitable[None]]:
    worker = pipeline.worker

    async def sink(stream: faust.StreamT) -> None:
        score_sink = ScoreSink(lambda: connect(clickhouse_url, pipeline.connections.clickhouse_security),
                               answers_ttl_days=answers_ttl_days)
        gauges.sink = score_sink

        async def batch_body(batch: list[EventT]) -> None:
            await _sink_batch(pipeline, score_sink, batch)

        try:
            await pipeline.run_batches("sink", stream, batch_body, worker.sink_batch_size, worker.sink_batch_seconds)
        finally:
            score_sink.close()

    return sink


async def _sink_batch(pipeline: Pipeline, sink: ScoreSink, batch: list[EventT]) -> None:
    sends: list = []
    records = pipeline.decoded(batch, ScoredRecord, "sink", sends)
    await sink.write(records)  # returns only once ClickHouse has the rows
    pipeline.metrics.sink_rows.inc(len(records))
    await deliver(sends)


class SinkGauges:
    """Failed inserts and the stall, from the running sink to /metrics and /ready (refreshed each second)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self.sink: ScoreSink | None = None
        self._failures_seen = 0

    def refresh(self) -> None:
        if self.sink is None:
            return
        metrics = self._pipeline.metrics
        if self.sink.failed_attempts > self._failures_seen:
            metrics.sink_failures.inc(self.sink.failed_attempts - self._failures_seen)
            self._failures_seen = self.sink.failed_attempts
        self._pipeline.readiness.sink_stalled_since = self.sink.stalled_since
        metrics.sink_stalled.set(0 if self.sink.stalled_since is None else time.monotonic() - self.sink.stalled_since)
