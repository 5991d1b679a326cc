"""Kafka topic names of the pipeline, with an optional prefix so several pipelines share a cluster."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Topics", "SCORED_INLINE_HEADER", "was_scored_inline"]

# On a shadow.results message: the replay agent already scored it and sent the record to
# shadow.scored, so the scoring agent passes it by (backfill results carry no such header).
SCORED_INLINE_HEADER = "x-shadow-scored"


def was_scored_inline(headers: object) -> bool:
    """True when a consumed message's headers (a mapping or (key, value) pairs) carry the header."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or [])
    return any((k.decode() if isinstance(k, bytes) else k) == SCORED_INLINE_HEADER for k, _ in pairs)


class Topics(BaseModel):
    model_config = ConfigDict(frozen=True)

    requests: str
    results: str
    scored: str
    dlq: str
    # decisions is not in all(): created on first use by analytics.history. feedback is, since the
    # worker's feedback agent consumes it.
    decisions: str = "shadow.decisions"
    feedback: str = "shadow.feedback"

    @classmethod
    def with_prefix(cls, prefix: str = "") -> "Topics":
        return cls(
            requests=f"{prefix}shadow.requests",
            results=f"{prefix}shadow.results",
            scored=f"{prefix}shadow.scored",
            dlq=f"{prefix}shadow.dlq",
            decisions=f"{prefix}shadow.decisions",
            feedback=f"{prefix}shadow.feedback",
        )

    def all(self) -> list[str]:
        return [self.requests, self.results, self.scored, self.dlq, self.feedback]
