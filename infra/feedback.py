"""Feedback rows into ClickHouse's shadow_feedback: one insert, shared by the CLI, the analytics and
the worker's feedback agent (validation is the contract's: schemas.events.check_feedback)."""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_connect.driver.client import Client

from schemas.clickhouse import FEEDBACK_TABLE
from schemas.events import OutcomeFeedback

__all__ = ["FEEDBACK_COLUMNS", "insert_feedback"]

FEEDBACK_COLUMNS = ["event_id", "subject", "kind", "source", "value", "label", "ts", "reviewer", "shown_first",
                    "queue_reason", "rating_production", "rating_challenger", "note"]


def insert_feedback(client: Client, records: Sequence[OutcomeFeedback]) -> int:
    """Insert `records` as they are (already checked); returns how many."""
    if records:
        client.insert(FEEDBACK_TABLE, [[getattr(r, name) for name in FEEDBACK_COLUMNS] for r in records],
                      column_names=FEEDBACK_COLUMNS)
    return len(records)
