"""Publishes InferenceEvents to Kafka without ever making the caller wait.

confluent-kafka's produce() only appends to librdkafka's in-memory queue (µs); its size is capped by
`buffer_bytes`. When the queue is full (Kafka down or slow) the event is dropped and counted: the
user's request is worth more than its shadow copy. A background thread serves delivery reports and
rebuilds the producer if librdkafka ever declares it fatally broken, so an outage heals by itself.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from infra.kafka_clients import kafka_config
from schemas.events import InferenceEvent
from schemas.security import KafkaSecurity

if TYPE_CHECKING:
    from producers.mirror import CaptureConfig, CaptureResult, Mirror

__all__ = ["EventPublisher", "PublisherCounters"]

log = logging.getLogger(__name__)

_COUNTER_NAMES = ("enqueued", "delivered", "dropped_buffer_full", "dropped_too_large", "delivery_errors",
                  "broker_errors", "producer_restarts")


@dataclass
class PublisherCounters:
    enqueued: int = 0
    delivered: int = 0
    dropped_buffer_full: int = 0
    dropped_too_large: int = 0
    delivery_errors: int = 0
    broker_errors: int = 0
    producer_restarts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {k: getattr(self, k) for k in _COUNTER_NAMES}


class EventPublisher:
    def __init__(self, bootstrap: str, topic: str, buffer_bytes: int = 64 * 1024 * 1024,
                 extra_config: dict[str, object] | None = None, *,
                 capture_config: CaptureConfig | None = None, security: KafkaSecurity | None = None) -> None:
        self.topic = topic
        self.buffer_bytes = buffer_bytes
        self.counters = PublisherCounters()
        self._config: dict[str, object] = kafka_config(bootstrap, security, {
            "queue.buffering.max.kbytes": max(1, buffer_bytes // 1024),
            "queue.buffering.max.messages": 2_000_000,  # the byte cap is the one that binds
            "linger.ms": 5,
            "compression.type": "lz4",
            "enable.idempotence": True,
            "message.timeout.ms": 300_000,  # an event older than this in the buffer is not worth sending
            "reconnect.backoff.max.ms": 2_000,  # find a returning broker within seconds
            # A Python callback per delivered event would take the GIL from the event loop thousands of
            # times a second; successes are counted from the queue length instead (see _poll_loop).
            "delivery.report.only.error": True,
            "logger": logging.getLogger("producers.publisher.librdkafka"),  # not raw stderr: the app's logging
            "error_cb": self._on_error,
        })
        self._config.update(extra_config or {})
        self._producer = Producer(self._config)
        self._fatal = threading.Event()
        self._capture_config = capture_config
        self._mirror: Mirror | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll_loop, name="publisher-poll", daemon=True)
        self._poller.start()

    def publish(self, event: InferenceEvent) -> bool:
        """Queue the event; False when it was dropped (buffer full, too large). Never blocks."""
        payload = event.model_dump_json().encode()
        try:
            self._producer.produce(self.topic, key=event.event_id.encode(), value=payload,
                                   on_delivery=self._on_delivery)
        except BufferError:
            self.counters.add("dropped_buffer_full")
            return False
        except KafkaException as exc:  # message too large, or a producer being replaced after a fatal error
            self.counters.add("dropped_too_large" if exc.args[0].code() == KafkaError.MSG_SIZE_TOO_LARGE
                              else "delivery_errors")
            return False
        self.counters.add("enqueued")
        return True

    def capture(self, request: Any, response: Any = None, **kwargs: Any) -> CaptureResult:
        """The library call for teams with their own gateway: see producers.mirror.Mirror.capture."""
        return self.mirror.capture(request, response, **kwargs)

    @property
    def mirror(self) -> Mirror:
        if self._mirror is None:
            from producers.mirror import CaptureConfig, Mirror

            self._mirror = Mirror(self._capture_config or CaptureConfig(), self)
        return self._mirror

    def pending(self) -> int:
        """Events not yet delivered, plus the few protocol requests librdkafka queues beside them
        (its len() counts both, so this can read a little above the events enqueued)."""
        return len(self._producer)

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for queued events (shutdown only, never on a request path); returns how many remain."""
        remaining = self._producer.flush(timeout_s)
        self._count_delivered()
        return remaining

    def close(self, timeout_s: float = 10.0) -> None:
        remaining = self.flush(timeout_s)
        if remaining:
            log.warning("publisher closed with %d events not delivered", remaining)
        self._stop.set()
        self._poller.join(timeout=2)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.1)
            if self._fatal.is_set():
                self._restart()
            self._count_delivered()

    def _count_delivered(self) -> None:
        """Whatever left the queue without an error report was acknowledged by Kafka."""
        with self.counters._lock:
            settled = self.counters.enqueued - len(self._producer) - self.counters.delivery_errors
            self.counters.delivered = max(self.counters.delivered, settled)

    def _restart(self) -> None:
        """A fatal producer never sends again: replace it; what it still held is counted as lost."""
        old = self._producer
        self._producer = Producer(self._config)
        self._fatal.clear()
        lost = len(old)
        if lost:
            self.counters.add("delivery_errors", lost)
        self.counters.add("producer_restarts")
        log.error("Kafka producer hit a fatal error and was rebuilt; %d queued events lost", lost)

    def _on_error(self, error: KafkaError) -> None:
        self.counters.add("broker_errors")
        if error.fatal():
            self._fatal.set()

    def _on_delivery(self, error: KafkaError | None, _message: Message) -> None:
        if error is None:
            self.counters.add("delivered")
        else:
            self.counters.add("delivery_errors")
            failed = self.counters.delivery_errors
            if failed & (failed - 1) == 0:  # an outage expires thousands at once: log the 1st, 2nd, 4th…
                log.warning("event not delivered to Kafka (%d so far): %s", failed, error)
