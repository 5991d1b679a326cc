"""Publishes InferenceEvents to Kafka without ever making the caller wait.

confluent-kafka's produce() only appends to librdkafka's in-memory queue (µs); its size is capped by
`buffer_bytes`. When the queue is full (Kafka down or slow) the event is dropped and counted: the
user's request is worth more than its shadow copy. A background thread serves delivery reports.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from types import TracebackType

from confluent_kafka import KafkaError, Message, Producer

from schemas.events import InferenceEvent

__all__ = ["EventPublisher", "PublisherCounters"]

log = logging.getLogger(__name__)


@dataclass
class PublisherCounters:
    enqueued: int = 0
    delivered: int = 0
    dropped_buffer_full: int = 0
    delivery_errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: getattr(self, k) for k in ("enqueued", "delivered", "dropped_buffer_full", "delivery_errors")}


class EventPublisher:
    def __init__(self, bootstrap: str, topic: str, buffer_bytes: int = 64 * 1024 * 1024,
                 extra_config: dict[str, object] | None = None) -> None:
        self.topic = topic
        self.counters = PublisherCounters()
        config: dict[str, object] = {
            "bootstrap.servers": bootstrap,
            "queue.buffering.max.kbytes": max(1, buffer_bytes // 1024),
            "queue.buffering.max.messages": 2_000_000,  # the byte cap is the one that binds
            "linger.ms": 5,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "message.timeout.ms": 300_000,  # an event older than this in the buffer is not worth sending
            "log_level": 4,
        }
        config.update(extra_config or {})
        self._producer = Producer(config)
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="publisher-poll", daemon=True)
        self._poller.start()

    def publish(self, event: InferenceEvent) -> bool:
        """Queue the event; False when it was dropped because the buffer is full. Never blocks."""
        payload = event.model_dump_json().encode()
        try:
            self._producer.produce(self.topic, key=event.event_id.encode(), value=payload, on_delivery=self._on_delivery)
        except BufferError:
            self.counters.add("dropped_buffer_full")
            return False
        self.counters.add("enqueued")
        return True

    def pending(self) -> int:
        return len(self._producer)

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for queued events (shutdown only, never on a request path); returns how many remain."""
        return self._producer.flush(timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        remaining = self.flush(timeout_s)
        if remaining:
            log.warning("publisher closed with %d events not delivered", remaining)
        self._stop.set()
        self._poller.join(timeout=2)

    def __enter__(self) -> "EventPublisher":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.counters.add("delivered")
        else:
            self.counters.add("delivery_errors")
            log.warning("event not delivered to Kafka: %s", error)
