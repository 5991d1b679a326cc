"""Prometheus metrics of the gateway and the capture, in a registry of their own (one per app).

Request counts and upstream latency are recorded per request; everything the capture and the
publisher count is read from their counters at scrape time, so the user path pays nothing for it.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from producers.capture_queue import CaptureQueue
from producers.mirror import Mirror
from producers.publisher import EventPublisher

__all__ = ["GatewayMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class _CaptureCollector(Collector):
    def __init__(self, mirror: Mirror, publisher: EventPublisher, capture_queue: CaptureQueue | None) -> None:
        self.mirror = mirror
        self.publisher = publisher
        self.capture_queue = capture_queue

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        capture = self.mirror.counters.snapshot()
        pub = self.publisher.counters.snapshot()
        outcomes = capture["outcomes"]
        simple = [
            ("shadow_gateway_published", "Events handed to the Kafka publisher", outcomes.get("published", 0)),
            ("shadow_gateway_sampled_out", "Exchanges not mirrored by sampling", outcomes.get("sampled_out", 0)),
            ("shadow_gateway_opted_out", "Exchanges of opted-out tenants (SHADOW_GATEWAY_OPT_OUT_TENANTS), never "
             "mirrored", outcomes.get("opted_out", 0)),
            ("shadow_gateway_dropped", "Events dropped: publisher buffer full or event too large",
             outcomes.get("dropped", 0)),
            ("shadow_gateway_capture_errors", "Exchanges that could not be turned into an event",
             outcomes.get("failed", 0)),
            ("shadow_gateway_capture_queue_full", "Exchanges dropped: the capture thread's queue was full",
             outcomes.get("queue_full", 0)),
            ("shadow_gateway_not_replayable", "Events published but marked not replayable",
             capture["not_replayable"]),
            ("shadow_publisher_delivered", "Events Kafka acknowledged", pub["delivered"]),
            ("shadow_publisher_delivery_errors", "Events Kafka did not take (timeouts, errors)",
             pub["delivery_errors"]),
            ("shadow_publisher_broker_errors", "Client-level Kafka errors (broker down, ...)", pub["broker_errors"]),
            ("shadow_publisher_restarts", "Producers rebuilt after a fatal error", pub["producer_restarts"]),
        ]
        for name, doc, value in simple:
            family = CounterMetricFamily(name, doc)
            family.add_metric([], value)
            yield family
        redactions = CounterMetricFamily("shadow_gateway_redactions", "Values masked before publish, by kind",
                                         labels=["kind"])
        for kind, count in sorted(capture["redactions"].items()):
            redactions.add_metric([kind], count)
        yield redactions
        capped = CounterMetricFamily("shadow_gateway_capped", "Sampled events dropped over the route's hard cap "
                                     "(SHADOW_GATEWAY_MIRROR_MAX_PER_S)", labels=["route"])
        for route, count in sorted(capture["capped"].items()):
            capped.add_metric([route], count)
        yield capped
        if self.capture_queue is not None:
            depth = GaugeMetricFamily("shadow_gateway_capture_queue_depth", "Exchanges waiting for the capture thread")
            depth.add_metric([], self.capture_queue.depth())
            yield depth
        pending = GaugeMetricFamily("shadow_publisher_pending_events", "Events buffered, not yet acknowledged")
        pending.add_metric([], self.publisher.pending())
        yield pending
        limit = GaugeMetricFamily("shadow_publisher_buffer_limit_bytes", "Configured cap of the publisher buffer")
        limit.add_metric([], self.publisher.buffer_bytes)
        yield limit


class GatewayMetrics:
    def __init__(self, mirror: Mirror, publisher: EventPublisher, capture_queue: CaptureQueue | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("shadow_gateway_requests", "Requests answered", ["route", "status"],
                                registry=self.registry)
        self.upstream_latency = Histogram("shadow_gateway_upstream_seconds", "Production model latency",
                                          ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(_CaptureCollector(mirror, publisher, capture_queue))
