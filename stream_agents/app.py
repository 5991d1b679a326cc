"""The Faust app: replay -> scoring -> sink, each an agent on its own topic (stream_agents/agents/), and
the feedback agent storing outcomes and people's ratings (shadow.feedback).

Made by create_app(settings); nothing is created at import time. The agents share one Pipeline
(topics, metrics, readiness, the dead-letter path and the guarded batch loop: agents/pipeline.py);
the web port serves /metrics (Prometheus) and /ready.
"""

from __future__ import annotations

from typing import Any

import faust

from infra.kafka_clients import faust_credentials
from schemas.settings import Settings
from stream_agents.agents.feedback import feedback_agent
from stream_agents.agents.pipeline import Pipeline, require_services
from stream_agents.agents.replay import replay_agent
from stream_agents.agents.scoring import scoring_agent
from stream_agents.agents.sink import SinkGauges, sink_agent
from stream_agents.allowed_hosts import AllowedHosts

__all__ = ["create_app"]


def _faust_app(settings: Settings, bootstrap: str) -> faust.App:
    connections, worker = settings.connections, settings.worker
    faust_dir = settings.stack.state_dir / "faust"
    faust_dir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        connections.consumer_group,
        broker=f"kafka://{bootstrap}",
        broker_credentials=faust_credentials(connections.kafka_security),  # SASL/TLS: infra/kafka_clients.py
        # Faust's own table store; by default it lands in the working directory as `<app>-data/`.
        datadir=str(faust_dir / connections.consumer_group),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=connections.topic_partitions,
        web_enabled=worker.worker_web_port != 0,
        web_port=worker.worker_web_port or 6066,
        web_host="127.0.0.1",
        # Measured on this machine kind (DESIGN.md): +30 % and far less broker CPU.
        producer_linger=0.005,
        # aiokafka's default batch (16 KB) holds ~6 results: each further send of a replay batch then
        # waited for the previous Kafka request to drain (a timer and a round trip per ~6 messages;
        # 10 % of the worker's CPU in the py-spy profile, bench/bench_worker.py --profile). 512 KB
        # stays under the request cap (producer_max_request_size, 1,000,000 bytes).
        producer_max_batch_size=512 * 1024,
        consumer_max_fetch_size=8 * 1024 * 1024,
        broker_max_poll_records=10000,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=connections.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, connections.kafka_session_timeout_s / 3),
    )


def create_app(settings: Settings) -> faust.App:
    bootstrap, _redis_url, clickhouse_url = require_services(settings.connections)
    allowed = AllowedHosts.from_settings(settings)
    allowed.check_scoring_endpoints(settings.scoring)  # the judge and embeddings receive prompts too
    app = _faust_app(settings, bootstrap)
    pipeline = Pipeline(app, settings.connections, settings.worker)
    app.shadow_metrics, app.shadow_readiness = pipeline.metrics, pipeline.readiness  # for tests and embedding code
    gauges = SinkGauges(pipeline)

    app.agent(pipeline.requests, name="replay")(
        replay_agent(pipeline, settings.models, settings.scoring, allowed, production=settings.gateway))
    app.agent(pipeline.results, name="scoring")(scoring_agent(pipeline, settings.models, settings.scoring))
    app.agent(pipeline.scored, name="sink")(sink_agent(pipeline, clickhouse_url, gauges,
                                                       settings.scoring.answers_ttl_days))
    app.agent(pipeline.feedback, name="feedback")(feedback_agent(pipeline, clickhouse_url))

    @app.timer(1.0)
    async def refresh_gauges() -> None:
        gauges.refresh()

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(pipeline.metrics.render(), content_type="text/plain; version=0.0.4")

    @app.page("/ready")
    async def ready_page(web: Any, request: Any) -> Any:
        ready, report = pipeline.readiness.report()
        return web.json(report, status=200 if ready else 503)

    return app
