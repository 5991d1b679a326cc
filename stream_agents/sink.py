"""Writes ScoredRecords to ClickHouse in batches, and does not return until they are in.

Faust acks a take() batch once the loop body finishes, also when it raises: so the sink retries here,
with back-off and a loud log, and never lets an insert error escape (that would lose the batch).
Rows are keyed (challenger, scorer_version, event_id) in a ReplacingMergeTree: writing a batch twice
is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from schemas.clickhouse import ANSWERS_TABLE, JUDGMENTS_TABLE, SCORES_TABLE
from schemas.events import Judgment, PairAnswers, ScoredRecord
from stream_agents.retry import retry_forever

__all__ = ["ScoreSink", "SCORE_COLUMNS", "JUDGMENT_COLUMNS", "ANSWER_COLUMNS", "records_to_columns",
           "judgments_to_columns", "answers_to_columns"]

log = logging.getLogger(__name__)

SCORE_COLUMNS: list[str] = [name for name in ScoredRecord.model_fields if name not in ("schema_version", "judgment", "answers")]
# A judgment's row: the pair's keys from its record, then the judge's own fields.
JUDGMENT_KEYS = ["app", "challenger", "event_id", "challenger_model", "route", "tenant", "ts_request"]
JUDGMENT_COLUMNS: list[str] = JUDGMENT_KEYS + list(Judgment.model_fields)
ANSWER_KEYS = ["app", "challenger", "event_id", "route", "tenant", "ts_request"]
ANSWER_COLUMNS: list[str] = ANSWER_KEYS + list(PairAnswers.model_fields) + ["expires_at"]


def records_to_columns(records: list[ScoredRecord]) -> list[list[Any]]:
    """Column-oriented data: far cheaper for clickhouse-connect to serialise than row lists."""
    columns: list[list[Any]] = [[] for _ in SCORE_COLUMNS]
    for record in records:
        for column, name in zip(columns, SCORE_COLUMNS):
            value = getattr(record, name)
            column.append(value.value if name == "status" else value)
    return columns


def judgments_to_columns(records: list[ScoredRecord]) -> list[list[Any]]:
    """The judgments the records carry, column-oriented for shadow_judgments (empty lists if none)."""
    columns: list[list[Any]] = [[] for _ in JUDGMENT_COLUMNS]
    for record in records:
        if record.judgment is None:
            continue
        for column, name in zip(columns, JUDGMENT_COLUMNS):
            column.append(getattr(record, name) if name in JUDGMENT_KEYS else getattr(record.judgment, name))
    return columns


def answers_to_columns(records: list[ScoredRecord], ttl_days: int) -> list[list[Any]]:
    """The texts the records carry, column-oriented for shadow_answers; each row expires ttl_days after its request."""
    columns: list[list[Any]] = [[] for _ in ANSWER_COLUMNS]
    for record in records:
        if record.answers is None:
            continue
        values = [getattr(record, name) for name in ANSWER_KEYS]
        values += [getattr(record.answers, name) for name in PairAnswers.model_fields]
        values.append((record.ts_request + timedelta(days=ttl_days)).replace(microsecond=0))
        for column, value in zip(columns, values):
            column.append(value)
    return columns


class ScoreSink:
    def __init__(self, client_factory: Callable[[], Client], max_backoff_s: float = 30.0,
                 answers_ttl_days: int = 30) -> None:
        self._client_factory = client_factory
        self._answers_ttl_days = answers_ttl_days
        self._client: Client | None = None
        self._max_backoff_s = max_backoff_s
        self.rows_written = 0
        self.failed_attempts = 0
        self.stalled_since: float | None = None  # monotonic time of the first failure of the current batch

    def _insert(self, records: list[ScoredRecord]) -> None:
        if self._client is None:
            self._client = self._client_factory()
        # Every table is keyed by the pair: a retried batch replaces, never doubles. The scores go last,
        # so a visible score means its pair's texts and judgment are in too.
        answers = answers_to_columns(records, self._answers_ttl_days) if self._answers_ttl_days > 0 else [[]]
        if answers[0]:
            self._client.insert(ANSWERS_TABLE, answers, column_names=ANSWER_COLUMNS, column_oriented=True)
        judgments = judgments_to_columns(records)
        if judgments[0]:
            self._client.insert(JUDGMENTS_TABLE, judgments, column_names=JUDGMENT_COLUMNS, column_oriented=True)
        self._client.insert(SCORES_TABLE, records_to_columns(records), column_names=SCORE_COLUMNS,
                            column_oriented=True)

    async def write(self, records: list[ScoredRecord]) -> None:
        """Insert until ClickHouse has the rows; back off between failures; never raises."""
        if not records:
            return

        def failed(_exc: BaseException) -> None:  # any failure: keep the batch, reconnect, try again
            self.failed_attempts += 1
            if self.stalled_since is None:
                self.stalled_since = time.monotonic()
            self._reset_client()

        def what() -> str:
            stalled = time.monotonic() - (self.stalled_since or time.monotonic())
            return f"ClickHouse insert of {len(records)} rows (stalled {stalled:.0f}s)"

        await retry_forever(lambda: asyncio.to_thread(self._insert, records), what, on_failure=failed,
                            cap_s=self._max_backoff_s, logger=log)
        self.rows_written += len(records)
        self.stalled_since = None

    def _reset_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
        self._client = None

    def close(self) -> None:
        self._reset_client()
