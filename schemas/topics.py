"""Kafka topic names of the pipeline, with an optional prefix so several pipelines share a cluster."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from schemas.security import KafkaSecurity

__all__ = ["Topics", "ensure_topics", "SCORED_INLINE_HEADER", "was_scored_inline"]

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
    # Added for analytics (not in all(): created on first use by analytics.history / analytics.outcomes).
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
        return [self.requests, self.results, self.scored, self.dlq]


def ensure_topics(bootstrap: str, names: list[str], partitions: int, timeout_s: float = 30.0,
                  security: KafkaSecurity | None = None) -> list[str]:
    """Create the topics that do not exist yet (replication 1 locally, the broker default elsewhere)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    from infra.kafka_clients import kafka_config

    admin = AdminClient(kafka_config(bootstrap, security))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [NewTopic(name, num_partitions=partitions) for name in names if name not in existing]
    created = []
    if wanted:
        for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
            try:
                future.result(timeout=timeout_s)
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another process won the race
                    raise
    return created
