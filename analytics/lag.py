"""Consumer lag of the pipeline's groups, per partition, as Kafka's own tools count it.

Per partition: the committed offset (None when the group has none, Kafka's tools print '-'), the end
offset (log end, read-uncommitted, as `kafka-consumer-groups.sh --describe` uses), the lag in
messages (end − committed) and in seconds: now minus the timestamp of the first record the group has
not consumed yet, i.e. how old the oldest unprocessed event is. That is the figure that makes a
drift window stale, and it stays meaningful when traffic is bursty (a message count does not).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import TracebackType

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from prometheus_client import CollectorRegistry, Gauge
from pydantic import BaseModel

from infra.kafka_clients import kafka_config
from schemas.errors import StackError
from schemas.security import KafkaSecurity

__all__ = ["PartitionLag", "GroupLag", "LagMonitor", "LagMetrics"]


class PartitionLag(BaseModel):
    topic: str
    partition: int
    committed_offset: int | None
    end_offset: int
    lag: int | None  # None: nothing committed yet, as Kafka's tool shows '-'
    lag_seconds: float | None
    consumer_id: str | None = None


class GroupLag(BaseModel):
    group: str
    state: str
    checked_at: datetime
    partitions: list[PartitionLag]

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)

    @property
    def max_lag_seconds(self) -> float:
        return max((p.lag_seconds or 0.0 for p in self.partitions), default=0.0)

    def summary(self) -> dict[str, object]:
        return {"group": self.group, "state": self.state, "checked_at": self.checked_at.isoformat(),
                "total_lag": self.total_lag, "max_lag_seconds": self.max_lag_seconds,
                "partitions": [p.model_dump() for p in self.partitions]}


def _result(future, what: str, timeout_s: float):  # noqa: ANN001, ANN202 - confluent futures are untyped
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as exc:
        raise StackError(f"Kafka could not answer {what}: {exc}") from exc
    except TimeoutError as exc:
        raise StackError(f"Kafka did not answer {what} within {timeout_s:.0f}s; is the broker up?") from exc


class LagMonitor:
    """Reads lag from a Kafka cluster; owns one AdminClient and one assign-only Consumer."""

    def __init__(self, bootstrap: str, timeout_s: float = 15.0, security: KafkaSecurity | None = None) -> None:
        self._bootstrap = bootstrap
        self._timeout_s = timeout_s
        self._admin = AdminClient(kafka_config(bootstrap, security, {"log_level": 3}))
        # Assign-only: this consumer never joins a group and never commits, so it disturbs nobody.
        self._probe = Consumer(kafka_config(bootstrap, security, {
            "group.id": f"shadow-optic-lag-probe-{uuid.uuid4().hex}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False, "log_level": 3}))

    def __enter__(self) -> "LagMonitor":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._probe.close()

    def list_groups(self) -> list[str]:
        """Every consumer group of the cluster (the pipeline's and anyone else's)."""
        listing = _result(self._admin.list_consumer_groups(request_timeout=self._timeout_s), "list groups",
                          self._timeout_s)
        return sorted(g.group_id for g in listing.valid)

    def describe(self, group: str, now: datetime | None = None, attempts: int = 4,
                 topics: list[str] | None = None) -> GroupLag:
        """The group's lag; retried while Kafka says its coordinator is still loading (NOT_COORDINATOR,
        COORDINATOR_LOAD_IN_PROGRESS: transient right after a group or a broker appears).

        `topics`: also list every partition of these topics (those that exist), with no committed
        offset where the group has none, so a topic the group never consumed shows its backlog."""
        for attempt in range(attempts):
            try:
                return self._describe_once(group, now, topics or [])
            except StackError as exc:
                if "COORDINATOR" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    def _describe_once(self, group: str, now: datetime | None, topics: list[str]) -> GroupLag:
        description = _result(self._admin.describe_consumer_groups([group], request_timeout=self._timeout_s)[group],
                              f"describe group {group}", self._timeout_s)
        owners: dict[tuple[str, int], str] = {}
        for member in description.members:
            for tp in member.assignment.topic_partitions:
                owners[(tp.topic, tp.partition)] = member.member_id
        request = [ConsumerGroupTopicPartitions(group)]
        offsets = _result(self._admin.list_consumer_group_offsets(request, request_timeout=self._timeout_s)[group],
                          f"committed offsets of {group}", self._timeout_s)
        committed: dict[tuple[str, int], int | None] = {key: None for key in owners}
        for tp in offsets.topic_partitions:
            committed[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
        if topics:
            metadata = self._admin.list_topics(timeout=self._timeout_s)
            for topic in topics:
                for partition in (metadata.topics[topic].partitions if topic in metadata.topics else {}):
                    committed.setdefault((topic, partition), None)
        ends = self._end_offsets(list(committed))
        stamps = self._first_unconsumed_timestamps(
            [(key, off) for key, off in committed.items() if off is not None and ends[key] > off])
        now_ms = (now or datetime.now(UTC)).timestamp() * 1000
        partitions = []
        for key in sorted(committed):
            offset, end = committed[key], ends[key]
            lag = None if offset is None else max(end - offset, 0)
            if lag is None:
                seconds = None
            elif lag == 0:
                seconds = 0.0
            else:
                stamp = stamps.get(key)
                seconds = None if stamp is None else max(now_ms - stamp, 0.0) / 1000.0
            partitions.append(PartitionLag(topic=key[0], partition=key[1], committed_offset=offset, end_offset=end,
                                           lag=lag, lag_seconds=seconds, consumer_id=owners.get(key)))
        state = getattr(description.state, "name", str(description.state))
        return GroupLag(group=group, state=state, checked_at=now or datetime.now(UTC), partitions=partitions)

    def _end_offsets(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
        if not keys:
            return {}
        futures = self._admin.list_offsets({TopicPartition(t, p): OffsetSpec.latest() for t, p in keys},
                                           request_timeout=self._timeout_s)
        return {(tp.topic, tp.partition): _result(f, f"end offset of {tp.topic}[{tp.partition}]", self._timeout_s).offset
                for tp, f in futures.items()}

    def _first_unconsumed_timestamps(self, wanted: list[tuple[tuple[str, int], int]]) -> dict[tuple[str, int], float]:
        """Timestamp (ms) of the record at each committed offset: one fetch per lagging partition."""
        if not wanted:
            return {}
        self._probe.incremental_assign([TopicPartition(t, p, off) for (t, p), off in wanted])
        found: dict[tuple[str, int], float] = {}
        deadline = time.monotonic() + self._timeout_s
        try:
            while len(found) < len(wanted) and time.monotonic() < deadline:
                for message in self._probe.consume(num_messages=len(wanted) * 4, timeout=0.5):
                    if message.error() is not None:
                        continue
                    key = (message.topic(), message.partition())
                    if key not in found:
                        found[key] = float(message.timestamp()[1])
                        # Seen: stop fetching this partition, the rest of it is not needed.
                        self._probe.incremental_unassign([TopicPartition(*key)])
        finally:
            self._probe.unassign()
        return found


class LagMetrics:
    """Prometheus gauges for lag, in a registry of their own (the caller exposes it)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ["group", "topic", "partition"]
        self.lag = Gauge("shadow_optic_consumer_lag_messages", "Messages not yet consumed by the group",
                         labels, registry=self.registry)
        self.lag_seconds = Gauge("shadow_optic_consumer_lag_seconds",
                                 "Age of the oldest record the group has not consumed", labels, registry=self.registry)
        self.committed = Gauge("shadow_optic_consumer_committed_offset", "Committed offset", labels,
                               registry=self.registry)
        self.end = Gauge("shadow_optic_topic_end_offset", "Log end offset", labels, registry=self.registry)
        self.total = Gauge("shadow_optic_consumer_group_lag_messages", "Total lag of the group", ["group"],
                           registry=self.registry)
        self.max_seconds = Gauge("shadow_optic_consumer_group_lag_seconds", "Largest lag in seconds of the group",
                                 ["group"], registry=self.registry)
        self.alert = Gauge("shadow_optic_consumer_lag_alert", "1 while the lag alert of the group is firing",
                           ["group"], registry=self.registry)
        self._seen: dict[str, set[tuple[str, str]]] = {}

    def update(self, lag: GroupLag, alert_firing: bool = False) -> None:
        current = set()
        for p in lag.partitions:
            key = (p.topic, str(p.partition))
            current.add(key)
            labels = (lag.group, *key)
            self.end.labels(*labels).set(p.end_offset)
            # Unknown figures are left out rather than exported as 0, which would read as "caught up".
            for gauge, value in ((self.lag, p.lag), (self.lag_seconds, p.lag_seconds),
                                 (self.committed, p.committed_offset)):
                if value is None:
                    _remove(gauge, labels)
                else:
                    gauge.labels(*labels).set(value)
        for key in self._seen.get(lag.group, set()) - current:  # partitions the group no longer has
            for gauge in (self.lag, self.lag_seconds, self.committed, self.end):
                _remove(gauge, (lag.group, *key))
        self._seen[lag.group] = current
        self.total.labels(lag.group).set(lag.total_lag)
        self.max_seconds.labels(lag.group).set(lag.max_lag_seconds)
        self.alert.labels(lag.group).set(1 if alert_firing else 0)


def _remove(gauge: Gauge, labels: tuple[str, ...]) -> None:
    try:
        gauge.remove(*labels)
    except KeyError:
        pass
