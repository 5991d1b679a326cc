"""Long-running processes of the pipeline, each built from one Settings: gateway, worker, sim model."""

from __future__ import annotations

import logging
import os
import signal
import threading

from infra.kafka_clients import ensure_topics
from schemas.security import ClickHouseSecurity
from schemas.settings import Settings
from shadow_optic.sim_model import SimModelConfig

__all__ = ["run_gateway", "run_worker", "run_sim_model"]


def run_gateway(settings: Settings) -> None:
    import uvicorn

    from producers.gateway import create_gateway
    from producers.mirror import CaptureConfig
    from producers.publisher import EventPublisher

    try:
        ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions, timeout_s=10,
                      security=settings.kafka_security)
    except Exception as exc:  # noqa: BLE001 - Kafka down must not keep the gateway (the user path) from starting
        logging.getLogger(__name__).warning("could not check Kafka topics (%s); serving anyway, events are "
                                            "buffered and sent once Kafka answers", exc)
    with EventPublisher(settings.kafka_bootstrap, settings.topics.requests, settings.publisher_buffer_bytes,
                        capture_config=CaptureConfig.from_settings(settings.capture),
                        security=settings.kafka_security) as pub:
        app = create_gateway(settings, pub)
        # Keep-alive longer than clients' pools expect, so connections are reused, not re-opened.
        uvicorn.run(app, host=settings.gateway_host, port=settings.gateway_port, log_level="warning",
                    access_log=False, timeout_keep_alive=30)


def run_worker(settings: Settings) -> None:
    import faust

    from stream_agents.app import create_app

    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions,
                  security=settings.kafka_security)
    # a ClickHouse of the user's own may be empty
    _migrate(settings.clickhouse_url, settings.clickhouse_security, settings.clickhouse_cluster)
    if settings.retention_days is not None:  # SHADOW_RETENTION_DAYS: topics and tables, from one setting
        _apply_retention(settings)
    app = create_app(settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per challenger call is noise
    timeout_s = settings.shutdown_timeout_s

    class BoundedWorker(faust.Worker):
        """Faust's worker, whose stop on SIGTERM/SIGINT is bounded: with Kafka unreachable, Faust's
        graceful stop waits for the broker (commits, producer flush, consumer leave) without end."""

        def _schedule_shutdown(self, sig: signal.Signals) -> None:
            _exit_unless_stopped_within(timeout_s)
            super()._schedule_shutdown(sig)

    # INFO, not WARNING: at WARNING Faust turns the root logger to DEBUG for its spinner (-10-20 %).
    worker = BoundedWorker(app, loglevel=settings.log_level.upper() if settings.log_level.upper() != "WARNING"
                           else "INFO", quiet=True)
    worker.execute_from_commandline()


_exit_timer: threading.Timer | None = None


def _exit_unless_stopped_within(timeout_s: float) -> None:
    """Arm (once) a thread that ends the process if the graceful stop has not within `timeout_s`.

    A thread, not the event loop: the loop is what may be stuck. Exiting hard commits nothing more, and
    what was committed before covers only processed batches (the agents withhold the acks of a batch
    they abandon), so every unfinished event is delivered again to the next worker.
    """
    global _exit_timer
    if _exit_timer is not None:
        return

    def exit_now() -> None:
        logging.getLogger(__name__).error(
            "the worker did not stop within %.1fs (SHADOW_SHUTDOWN_TIMEOUT_S), probably waiting on an unreachable "
            "Kafka: exiting now; uncommitted events will be delivered again", timeout_s)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(1)

    _exit_timer = threading.Timer(timeout_s, exit_now)
    _exit_timer.daemon = True  # a stop that finishes in time is not held up by it
    _exit_timer.start()


def _apply_retention(settings: Settings) -> None:
    from infra.clickhouse import connect
    from infra.retention import apply_table_ttl, apply_topic_retention

    apply_topic_retention(settings.kafka_bootstrap, settings.topics.all(), settings.retention_days,
                          settings.kafka_security)
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        tables = apply_table_ttl(client, settings.retention_days)
    finally:
        client.close()
    logging.getLogger(__name__).info("retention %g days: retention.ms on %d topics, TTL on %s",
                                     settings.retention_days, len(settings.topics.all()), ", ".join(tables))


def _migrate(clickhouse_url: str, security: ClickHouseSecurity | None = None, cluster: str | None = None) -> None:
    from infra.clickhouse import connect
    from schemas.clickhouse import migrate

    client = connect(clickhouse_url, security)
    try:
        migrate(client, cluster)
    finally:
        client.close()


def run_sim_model(config: SimModelConfig, host: str, port: int) -> None:
    import uvicorn

    from shadow_optic.sim_model import create_sim_model

    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    uvicorn.run(create_sim_model(config), host=host, port=port, log_level="warning", access_log=False)
