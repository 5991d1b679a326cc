"""Settings: one object read from the environment (prefix SHADOW_) by the entry point only, made of
one section per stage so that each component takes only the part it uses.

Sections (each a frozen model; `Settings` inherits all of them, so every field keeps its flat name):

    connections  ConnectionSettings  where Kafka, Redis and ClickHouse are and how to log in (SASL/TLS,
                                     credentials); topic names; consumer group
    stack        StackSettings       the local stack (`shadow-optic stack up`): dirs, versions, ports, logs
    gateway      GatewaySettings     the gateway process: listening, upstreams, champion following
    capture      CaptureSettings     what is captured and how (sampling, redaction, tags): gateway + library
    models       ModelSettings       the challengers and the price table
    worker       WorkerSettings      the stream worker: batching, replay, breaker, claims, allocation
    scoring      ScoringSettings     similarity, embeddings and the LLM judge
    promotion    PromotionSettings   promotion gates, readiness, champion registry and decisions
    alerts       AlertSettings       drift and cost alerts
    operations   OperationsSettings  lag monitor and backfill replays
    rollout      RolloutSettings     progressive rollouts (gateway split, step gates) and the monitor process
    access       AccessSettings      the control API's tokens and the hosts prompts may be sent to
    review       ReviewSettings      people in the loop: the review queue, judge calibration against people

Reading a setting: a component takes its section (`UpstreamTable(settings.gateway)`) and reads
`gateway.production_url`; the entry point builds `Settings()` once and hands each component
`settings.<section>`. Flat access (`settings.production_url`) keeps working on the whole object.

Adding a setting: add the field to the section class it belongs to, with a default and a
description. Its environment variable is SHADOW_ + the field name in capitals, so the field name is
the user-facing name: never rename one (tests/unit/schemas/test_settings.py lists every name users
have). A new section: a `_Section` subclass, a base of `Settings`, an entry in SECTIONS and a
property returning `self._section(NewSection)`. Every field belongs to exactly one section (tested).

One module of over 400 lines on purpose: it is ~170 field declarations, most of one line, and one
file is where a user looks for every SHADOW_* variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.security import ClickHouseSecurity, KafkaProtocol, KafkaSecurity, RedisSecurity, SaslMechanism
from schemas.topics import Topics

__all__ = [
    "Settings",
    "ConnectionSettings",
    "StackSettings",
    "GatewaySettings",
    "CaptureSettings",
    "ModelSettings",
    "WorkerSettings",
    "ScoringSettings",
    "PromotionSettings",
    "AlertSettings",
    "OperationsSettings",
    "RolloutSettings",
    "AccessSettings",
    "ReviewSettings",
    "ApiToken",
    "ChallengerConfig",
    "ModelPrice",
    "BUILTIN_PRICES",
]


def _default_state_dir() -> Path:
    return Path.home() / ".local" / "state" / "shadow-optic"


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "shadow-optic"


class ModelPrice(BaseModel):
    """USD per 1,000 tokens, as providers quote them."""

    model_config = ConfigDict(frozen=True)

    input_per_1k: float = Field(0.0, ge=0)
    output_per_1k: float = Field(0.0, ge=0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1k + completion_tokens * self.output_per_1k) / 1000.0


# List prices (USD per 1k tokens) of the models of the demo scenarios, by model name, never by role:
# the same model costs the same as production, control or challenger. Sources: data/README.md.
BUILTIN_PRICES: dict[str, ModelPrice] = {
    "gpt-4": ModelPrice(input_per_1k=0.03, output_per_1k=0.06),
    "text-davinci-003": ModelPrice(input_per_1k=0.02, output_per_1k=0.02),
    "llama-2-70b-chat-hf": ModelPrice(input_per_1k=0.0009, output_per_1k=0.0009),
    "falcon-40b-instruct": ModelPrice(input_per_1k=0.0008, output_per_1k=0.0008),  # illustrative
    "alpaca-7b": ModelPrice(input_per_1k=0.0002, output_per_1k=0.0002),  # illustrative
}


class ChallengerConfig(BaseModel):
    """A model that receives a replay of sampled production traffic."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    base_url: str = Field("", description="OpenAI-compatible base URL, e.g. http://host:8000/v1 (not for kind python)")
    model: str
    kind: Literal["chat", "completion", "json", "python"] = Field(
        "chat", description="chat: POST {base_url}/chat/completions; completion: {base_url}/completions; "
                            "json: POST the request's params to base_url as is; python: call `target` in process")
    target: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
                               description="kind python: package.module:callable, loaded once per worker")
    executor: Literal["inline", "thread", "process"] = Field(
        "inline", description="kind python, sync callables: on the worker's loop (inline), in a thread, or in "
                              "the worker's process pool (CPU-bound models; SHADOW_PYTHON_CHALLENGER_PROCESSES)")
    max_batch: int = Field(64, ge=1, description="kind python, batch-aware callables: most requests per call")
    timeout_s: float = Field(30.0, gt=0)
    api_key: SecretStr | None = None
    control: bool = Field(False, description="The production model asked again: measures the noise floor")
    price: ModelPrice | None = Field(None, description="unset: the price table's entry for `model`")
    # Limits shared by all workers (Redis); None = unlimited.
    rate_limit_rps: float | None = Field(None, gt=0, description="calls per second across all workers")
    rate_limit_burst: int = Field(1, ge=1, description="calls allowed at once above the steady rate")
    budget_usd: float | None = Field(None, ge=0, description="spend cap per budget_period across all workers")
    budget_period: Literal["hour", "day", "month"] = "day"
    allocation_share: float = Field(1.0, ge=0, description="weight in a fixed split of a shared budget")

    @model_validator(mode="after")
    def _where_it_runs(self) -> ChallengerConfig:
        if self.kind == "python" and not self.target:
            raise ValueError(f"challenger {self.name!r} is kind python: set target to package.module:callable")
        if self.kind != "python" and not self.base_url:
            raise ValueError(f"challenger {self.name!r} is kind {self.kind}: set base_url (the model's URL)")
        return self


class ApiToken(BaseModel):
    """A bearer token of the control API: who holds it (recorded with every admin action) and its role.

    Roles include each other: admin can review and read, review can read (shadow_optic/api/auth.py).
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@:-]+$")
    role: Literal["read", "review", "admin"]
    token: SecretStr = Field(min_length=16, description="at least 16 characters, e.g. `openssl rand -hex 24`")


class _Section(BaseModel):
    """A part of Settings; read-only (a component must not change what another one reads)."""

    model_config = ConfigDict(frozen=True)


class ConnectionSettings(_Section):
    """Where the services are and how to log in. Unset addresses mean: the local stack started by
    `shadow-optic stack up`. Passwords are SecretStr; validation errors never show their input."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    clickhouse_url: str | None = Field(
        None, description="http(s)://user:pass@host:8123/db for a server, chdb:///dir for the embedded engine"
    )
    topic_prefix: str = ""
    topic_partitions: int = Field(4, ge=1)
    consumer_group: str = "shadow-optic"
    # Privacy: how long events are kept, in one place: the topics' retention.ms and a TTL on every ClickHouse
    # table of events and figures (infra/retention.py); unset: nothing is changed (the broker's default applies).
    retention_days: float | None = Field(None, gt=0, description="days the topics and ClickHouse rows are kept")
    kafka_session_timeout_s: float = Field(30.0, ge=6, description="how soon a dead worker's partitions move")

    # A ClickHouse cluster: migrations make Replicated tables ON CLUSTER behind Distributed tables of the same
    # names (schemas/clickhouse/cluster.py); unset: one server.
    clickhouse_cluster: str | None = Field(None, pattern=r"^[A-Za-z0-9_]+$", description="cluster name in remote_servers")

    # --- connection security: SASL/TLS and credentials, turned into each client's configuration in one place
    # (infra/kafka_clients.py, infra/redis_clients.py, infra/clickhouse.py; README: Production security) ---
    # Kafka: SASL (PLAIN, SCRAM) and/or TLS for every client (gateway, worker, admin, lag, backfill, reports).
    kafka_security_protocol: KafkaProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_file: Path | None = Field(None, description="PEM CA of the brokers; unset: the system's CAs")
    kafka_ssl_cert_file: Path | None = Field(None, description="client certificate (mTLS), PEM")
    kafka_ssl_key_file: Path | None = Field(None, description="client private key (mTLS), PEM")
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    # Redis AUTH (a password, or an ACL user and password); rediss:// URLs are checked against the CA file.
    redis_username: str | None = None
    redis_password: SecretStr | None = None
    redis_ca_file: Path | None = None
    # ClickHouse server user and password (instead of user:pass@ in the URL); https:// checked against the CA.
    clickhouse_username: str | None = None
    clickhouse_password: SecretStr | None = None
    clickhouse_ca_file: Path | None = None

    @property
    def kafka_security(self) -> KafkaSecurity:
        return KafkaSecurity(
            protocol=self.kafka_security_protocol, sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username, sasl_password=self.kafka_sasl_password,
            ssl_ca_file=self.kafka_ssl_ca_file, ssl_cert_file=self.kafka_ssl_cert_file,
            ssl_key_file=self.kafka_ssl_key_file, ssl_key_password=self.kafka_ssl_key_password,
            ssl_check_hostname=self.kafka_ssl_check_hostname)

    @property
    def redis_security(self) -> RedisSecurity:
        return RedisSecurity(username=self.redis_username, password=self.redis_password, ca_file=self.redis_ca_file)

    @property
    def clickhouse_security(self) -> ClickHouseSecurity:
        return ClickHouseSecurity(username=self.clickhouse_username, password=self.clickhouse_password,
                                  ca_file=self.clickhouse_ca_file)

    @model_validator(mode="after")
    def _security_consistent(self) -> "ConnectionSettings":
        # Built once here so a wrong combination fails at start, with a message naming the variables.
        self.kafka_security, self.redis_security, self.clickhouse_security  # noqa: B018
        return self
    # --- end of connection security ---

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)


class StackSettings(_Section):
    """The local stack and the processes it runs: directories, versions, ports, log level."""

    state_dir: Path = Field(default_factory=_default_state_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    kafka_version: str = "4.4.0"
    kafka_port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    redis_port: int = Field(0, ge=0, le=65535)
    clickhouse_port: int = Field(0, ge=0, le=65535)
    # kafka-tools (ConsumerGroupCommand) to cross-check lag figures; 4.4.0 is not on Maven Central.
    kafka_tools_version: str = "4.3.1"
    log_level: str = "INFO"


class GatewaySettings(_Section):
    """The gateway process (producers/gateway.py): where it listens, where it forwards, its limits."""

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8080, ge=0, le=65535)
    production_url: str = "http://127.0.0.1:8101/v1"
    production_api_key: SecretStr | None = None
    upstream_timeout_s: float = Field(120.0, gt=0)
    publisher_buffer_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # Per-route upstream base URLs (route path -> base URL, like production_url); unset routes use production_url.
    gateway_upstreams: dict[str, str] = Field(default_factory=dict)
    # Non-LLM models: POST /models/<name>/predict goes to the URL given here (name -> full URL).
    gateway_json_models: dict[str, str] = Field(default_factory=dict)
    # Any other JSON path to mirror (path -> full URL), e.g. {"/score": "http://fraud:9000/score"}.
    gateway_json_routes: dict[str, str] = Field(default_factory=dict)
    gateway_connect_timeout_s: float = Field(5.0, gt=0)
    gateway_max_connections: int = Field(512, ge=1)
    gateway_follow_champion: bool = Field(True, description="serve chat/completions from the promoted champion")
    gateway_champion_poll_s: float = Field(5.0, gt=0, description="how often the champion registry is read")
    gateway_mirror_cap_shared: bool = Field(False, description="one mirror cap for all gateways, through Redis")
    gateway_capture_queue: int = Field(10_000, ge=0, description="exchanges waiting for the capture thread; "
                                       "full: dropped and counted. 0: capture on the serving loop")


class CaptureSettings(_Section):
    """What every capture (gateway, ASGI middleware, library call) records: the one source of its
    defaults (producers.mirror.CaptureConfig takes them from here)."""

    app_name: str = "default"
    production_model_rev: str = "unknown"
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    gateway_sample_ratios: dict[str, float] = Field(default_factory=dict, description="route -> ratio")
    # Sticky sampling key: the first source present wins (header:<name>, body:<field>, tenant, request_id).
    gateway_sample_keys: list[str] = Field(
        default_factory=lambda: ["header:x-shadow-sample-key", "body:user", "tenant", "request_id"])
    gateway_tenant_header: str = "x-shadow-tenant"
    # Privacy: tenants whose traffic is never mirrored (not published, not sampled, not counted as an event).
    gateway_opt_out_tenants: list[str] = Field(default_factory=list, description="tenants never mirrored")
    gateway_no_replay_header: str = "x-shadow-no-replay"
    gateway_tag_header_prefix: str = "x-shadow-tag-"
    gateway_side_effect_routes: list[str] = Field(default_factory=list)
    gateway_side_effect_methods: list[str] = Field(default_factory=lambda: ["PUT", "PATCH", "DELETE"])
    gateway_secret_headers: list[str] = Field(default_factory=list, description="added to the built-in list")
    gateway_secret_fields: list[str] = Field(default_factory=list, description="body/query keys, added to built-ins")
    gateway_pii_kinds: list[str] = Field(default_factory=lambda: ["email", "phone", "card", "iban"])
    gateway_pii_patterns: dict[str, str] = Field(default_factory=dict, description="name -> regex, masked as [NAME]")
    gateway_model_revs: dict[str, str] = Field(default_factory=dict, description="production model -> revision")
    gateway_max_capture_bytes: int = Field(1024 * 1024, ge=1024, description="longer answers are cut in the event")
    gateway_mirror_max_per_s: float | None = Field(None, gt=0, description="hard cap on mirrored events per second "
                                                   "per route, after sampling; over it dropped and counted")
    gateway_mirror_max_per_s_routes: dict[str, float] = Field(default_factory=dict, description="route -> cap")


class ModelSettings(_Section):
    """The challengers and what every model costs."""

    challengers: list[ChallengerConfig] = Field(default_factory=list)
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="per model name, any role; "
                                          "overrides the built-in list prices (BUILTIN_PRICES)")

    @field_validator("challengers")
    @classmethod
    def _unique_challenger_names(cls, value: list[ChallengerConfig]) -> list[ChallengerConfig]:
        names = [c.name for c in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"challenger names must be unique; repeated: {', '.join(duplicates)}")
        return value

    def price_of(self, model: str) -> ModelPrice:
        """A model's price by its name, whatever its role: SHADOW_PRICES, then the built-in list prices."""
        return self.prices.get(model) or BUILTIN_PRICES.get(model, ModelPrice())

    def challenger_price(self, challenger: ChallengerConfig) -> ModelPrice:
        """The challenger's own `price` when set, otherwise its model's price from the table."""
        return challenger.price if challenger.price is not None else self.price_of(challenger.model)


class WorkerSettings(_Section):
    """The stream worker (stream_agents/): batching, replay calls, breaker, claims, allocation."""

    replay_batch_size: int = Field(64, ge=1)
    replay_concurrency: int = Field(32, ge=1)
    python_challenger_processes: int = Field(2, ge=1, description="processes in the pool that runs python "
                                             "challengers with executor=process (one pool per worker)")
    # Score each replayed batch in the replay agent (one Kafka hop and one decode of every result
    # fewer); the scoring agent then only scores results that arrive unscored (backfills).
    score_in_replay: bool = True
    # How long a stage waits to fill a batch: every stage adds up to this much to capture -> row time.
    stage_batch_seconds: float = Field(0.2, gt=0, description="replay and scoring batch window")
    sink_batch_size: int = Field(500, ge=1)
    sink_batch_seconds: float = Field(0.5, gt=0)
    max_event_bytes: int = Field(1024 * 1024, ge=1024)
    worker_web_port: int = Field(6066, ge=0, le=65535)
    replay_lag_budget_s: float = Field(
        300.0, ge=0, description="a rate-limited call may wait until its Kafka message is this old; past it the "
                                 "pair is skipped (skipped_rate_limited). 0 = always wait")
    replay_max_attempts: int = Field(3, ge=1, description="attempts per call on 5xx/429/network errors")
    replay_retry_after_cap_s: float = Field(10.0, ge=0, description="longest Retry-After honoured inside a call")
    breaker_failure_threshold: int = Field(5, ge=1, description="consecutive failed calls that open the breaker")
    breaker_open_s: float = Field(5.0, gt=0, description="open time before a half-open probe")
    breaker_half_open_probes: int = Field(1, ge=1)
    registry_refresh_s: float = Field(1.0, gt=0, description="how often workers check the challenger registry")
    worker_heartbeat_s: float = Field(1.0, gt=0, description="liveness beat of a worker's claims")
    claim_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="how long (event, challenger) claims are kept")
    replay_allocation: Literal["all", "thompson", "fixed"] = Field(
        "all", description="all: every challenger gets every event; thompson/fixed: a shared budget is split")
    replay_allocation_fanout: int = Field(1, ge=1, description="non-control challengers called per event when split")
    replay_shared_budget_usd: float | None = Field(None, ge=0, description="spend cap per period shared by all")
    replay_shared_budget_period: Literal["hour", "day", "month"] = "day"
    replay_pass_similarity: float = Field(0.6, ge=0, le=1, description="similarity that counts as a pass (evidence)")
    replay_allocation_target: float = Field(0.8, ge=0, le=1, description="pass rate a challenger must reach")
    shutdown_timeout_s: float = Field(
        10.0, gt=0, description="longest a worker takes to stop on SIGTERM/SIGINT, whatever it waits on (Kafka "
                                "unreachable included); past it the process exits without committing more")


class ScoringSettings(_Section):
    """Similarity, embeddings and the LLM judge (stream_agents/scoring/, docs/scoring.md)."""

    similarity_method: Literal["lexical", "embedding"] = Field(
        "lexical", description="lexical: fast, no model; embedding: SHADOW_EMBEDDING_* below")
    embedding_provider: Literal["http", "local", "hashing"] = Field(
        "http", description="http: any OpenAI-compatible /v1/embeddings at embedding_base_url; local: the "
                            "all-MiniLM-L6-v2 extra; hashing: deterministic word hashing (tests, NOT semantic)")
    embedding_base_url: str | None = Field(None, description="e.g. http://host:8000/v1 (POST {url}/embeddings)")
    embedding_model: str = "text-embedding-3-small"
    embedding_api_key: SecretStr | None = None
    embedding_chunk_chars: int = Field(1000, ge=0, description="longer texts are embedded in chunks and averaged; 0 = off")
    embedding_batch_size: int = Field(64, ge=1)
    embedding_timeout_s: float = Field(30.0, gt=0)
    embedding_cache_ttl_s: int = Field(7 * 24 * 3600, ge=0, description="Redis cache of embeddings; 0 = no cache")
    judge_base_url: str | None = Field(None, description="OpenAI-compatible chat endpoint of the LLM judge; unset = off")
    judge_model: str = "gpt-4o-mini"
    judge_mode: Literal["pairwise", "rubric"] = Field(
        "pairwise", description="pairwise: which answer is better, both orders (the quality question's win rate); "
                                "rubric: G-Eval 1-5 scores per criterion (judge-1)")
    judge_api_key: SecretStr | None = None
    judge_sample_ratio: float = Field(1.0, ge=0, le=1, description="share of ok pairs judged (sticky by event id): "
                                      "a sequential test needs a sample, not every event")
    judge_repeats: int = Field(1, ge=1, le=10, description="rubric judge: >1 measures the judge's own noise")
    judge_rps: float = Field(1.0, gt=0, description="judge calls per second, across workers (Redis)")
    judge_burst: int = Field(1, ge=1)
    judge_concurrency: int = Field(4, ge=1)
    judge_budget_usd: float | None = Field(None, ge=0, description="pairwise judge: spend cap per day across workers (rubric judge: per process lifetime); then not judged")
    judge_price_input_per_1k: float = Field(0.0, ge=0, description="USD per 1k prompt tokens of the judge")
    judge_price_output_per_1k: float = Field(0.0, ge=0)
    judge_temperature: float = Field(0.0, ge=0, le=2)
    judge_timeout_s: float = Field(60.0, gt=0)
    judge_max_chars: int = Field(6000, ge=100, description="each text is cut to this in the judge prompt")
    judge_seed: int = 0
    scoring_label_fields: list[str] = Field(
        default_factory=lambda: ["label", "class", "decision", "prediction", "category", "intent", "verdict"])
    scoring_numeric_fields: list[str] = Field(
        default_factory=lambda: ["score", "value", "prediction", "probability", "amount"])
    # The request and both answers travel on each ScoredRecord to the sink, into shadow_answers (migration 121).
    answers_ttl_days: int = Field(30, ge=0, description="days the request and both answers stay in shadow_answers "
                                  "(0 = not stored)")
    answers_max_chars: int = Field(20_000, ge=100, description="each stored text is cut to this many characters")


class PromotionSettings(_Section):
    """Promotion gates (analytics/promotion.py, analytics/gates.py), readiness, the champion registry
    in Redis and where decisions are announced. Rates are fractions, latencies milliseconds."""

    promotion_min_samples: int = Field(1000, ge=1, description="scored pairs a challenger needs before any verdict")
    promotion_diurnal_hours: float = Field(24.0, ge=0, description="hours of traffic the window must span")
    promotion_window_hours: float = Field(0.0, ge=0, description="judge only the last N hours (0 = everything)")
    promotion_alpha: float = Field(0.01, gt=0, lt=0.5, description="error rate of the anytime-valid primary test")
    promotion_margin: float = Field(0.0, ge=0, description="non-inferiority margin on the primary metric (0 = must be better)")
    promotion_msprt_tau: float = Field(0.05, gt=0, description="mSPRT mixing scale: the effect size the test is tuned for")
    promotion_noise_floor_tolerance: float = Field(0.05, ge=0, description="similarity may sit this far below the control's")
    promotion_max_delta_s: float = Field(0.45, ge=0, le=1)
    quality_margin: float = Field(0.05, ge=0, lt=0.5, description="non-inferiority: win rate ≥ 0.5 − margin")
    quality_msprt_tau: float = Field(0.1, gt=0, description="mSPRT mixing scale of the win-rate test")
    promotion_min_faithfulness: float = Field(0.80, ge=0, le=1)
    promotion_min_quality: float = Field(0.70, ge=0, le=1)
    promotion_max_refusal_rate: float = Field(0.01, ge=0, le=1)
    promotion_max_error_rate: float = Field(0.01, ge=0, le=1)
    promotion_max_p95_latency_delta_ms: float = Field(200.0)
    promotion_max_cost_ratio: float = Field(1.0, gt=0, description="challenger cost / production cost allowed")
    promotion_score_promote: float = Field(70.0, ge=0, le=100)
    promotion_score_review: float = Field(50.0, ge=0, le=100)
    promotion_max_lag_messages: int = Field(1000, ge=0, description="consumer lag above this makes the window stale")
    promotion_max_lag_seconds: float = Field(
        300.0, ge=0, description="the window is stale while the oldest unconsumed event is older than this")
    promotion_canary_steps: list[float] = Field(default_factory=lambda: [1.0, 5.0, 25.0, 50.0, 100.0])
    promotion_canary_step_minutes: int = Field(60, ge=1)
    # Readiness (teacher/student)
    readiness_min_pairs: int = Field(1000, ge=1)
    readiness_min_similarity: float = Field(0.85, ge=0, le=1)
    readiness_max_p95_latency_ms: float = Field(500.0, gt=0)
    readiness_max_errors: int = Field(0, ge=0)
    # Decisions: champion registry in Redis, history, shadow.decisions topic, optional webhook
    champion_key_prefix: str = "shadow-optic:champion"
    decisions_webhook_url: str | None = None


class AlertSettings(_Section):
    """Drift alerts (analytics/alerts.py) and the daily cost alert."""

    alert_window_minutes: int = Field(5, ge=1)
    alert_max_delta_s: float = Field(0.45, ge=0, le=1)
    alert_max_p95_latency_delta_ms: float = Field(200.0)
    alert_max_p95_latency_increase: float = Field(0.03, ge=0, description="p95 challenger/production − 1")
    alert_max_refusal_rate: float = Field(0.01, ge=0, le=1)
    alert_max_error_rate: float = Field(0.02, ge=0, le=1)
    alert_change_delta: float = Field(0.01, ge=0, description="Page-Hinkley drift allowance (ΔS units)")
    alert_change_threshold: float = Field(0.15, gt=0, description="Page-Hinkley alarm level (ΔS units)")
    alert_fire_after: int = Field(2, ge=1, description="consecutive bad windows before an alert fires")
    alert_clear_after: int = Field(3, ge=1, description="consecutive good windows before it clears")
    cost_budget_usd_per_day: float | None = Field(None, ge=0, description="challenger spend per cost_budget_period "
                                                                         "that raises an alert")
    cost_budget_period: Literal["day", "month"] = Field("day", description="the period of the cost budget")


class OperationsSettings(_Section):
    """The lag monitor and backfill replays."""

    # Lag monitor: the alert fires after `lag_alert_checks` checks above `lag_alert_fire_above` and clears
    # after as many checks below `lag_alert_clear_below` (hysteresis: no flapping around one threshold).
    lag_alert_metric: Literal["messages", "seconds"] = "messages"
    lag_alert_fire_above: float = Field(10_000.0, ge=0)
    lag_alert_clear_below: float = Field(1_000.0, ge=0)
    lag_alert_checks: int = Field(3, ge=1)
    lag_alert_webhook_url: str | None = None
    lag_check_interval_s: float = Field(15.0, gt=0)
    # Backfill replay: pace of a challenger without its own rate_limit_rps; calls at once; checkpoint batch.
    backfill_qps: float = Field(20.0, gt=0)
    backfill_concurrency: int = Field(8, ge=1)
    backfill_batch_size: int = Field(32, ge=1)


class RolloutSettings(_Section):
    """Progressive rollouts (gateway: producers/rollout.py; gates: analytics/rollout_gates.py) and the
    monitor process (shadow_optic/monitor.py): leader lease, checks, health, auto-promotion."""

    rollout_poll_s: float = Field(1.0, gt=0, description="how often a gateway reads the rollout plan")
    rollout_stats_flush_s: float = Field(1.0, gt=0, description="how often a gateway adds its served figures to Redis")
    rollout_window_s: float = Field(20.0, gt=0, description="recent window each gate is also judged on")
    rollout_min_requests: int = Field(20, ge=1, description="served requests per arm before a step's gates judge")
    rollout_max_error_rate_increase: float = Field(
        0.02, ge=0, le=1, description="candidate error rate − champion's on the same step that rolls back")
    rollout_max_p95_latency_delta_ms: float = Field(
        200.0, ge=0, description="candidate p95 − champion p95 on the same step that rolls back")
    rollout_max_refusal_rate_increase: float = Field(
        0.01, ge=0, le=1, description="candidate refusal rate − champion's (scored served traffic) that rolls back")
    monitor_interval_s: float = Field(2.0, gt=0, description="the monitor's check period (rollout gates)")
    monitor_alert_interval_s: float = Field(15.0, gt=0, description="how often the monitor evaluates drift and "
                                                                    "cost alerts")
    monitor_alert_lookback_hours: float = Field(24.0, gt=0, description="window series replayed per drift check")
    monitor_lease_s: float = Field(10.0, gt=0, description="leader lease in Redis; a standby takes over after it")
    monitor_host: str = "127.0.0.1"
    monitor_port: int = Field(9310, ge=0, description="health and Prometheus metrics (0: off)")
    monitor_webhook_url: str | None = Field(None, description="alert transitions (default: the decisions webhook)")
    auto_promote: bool = Field(False, description="start a canary when a promote verdict holds for N checks")
    auto_promote_checks: int = Field(3, ge=1)
    auto_promote_interval_s: float = Field(60.0, gt=0, description="how often the monitor computes verdicts")


class AccessSettings(_Section):
    """Who may do what and where prompts may go: the control API's bearer tokens (shadow_optic/api/auth.py)
    and the hosts challengers, the judge and the embeddings endpoint may be at (stream_agents/allowed_hosts.py).
    README: Production security."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    # Control API bearer tokens (JSON list of {name, role, token}); without any, the API serves loopback only.
    api_tokens: list[ApiToken] = Field(default_factory=list)
    # Where prompts may go: host or host:port patterns (fnmatch, e.g. "*.internal:8000"); unset = loopback, the
    # hosts of SHADOW_CHALLENGERS and the judge and embeddings URLs (stream_agents/allowed_hosts.py).
    challenger_allowed_hosts: list[str] | None = None
    # In-process (kind python) challengers run code on the worker: the targets a registry write may name,
    # as package.module:callable patterns (fnmatch); unset = the targets named at start in SHADOW_CHALLENGERS.
    python_allowed_targets: list[str] | None = None

    @model_validator(mode="after")
    def _tokens_distinct(self) -> "AccessSettings":
        names = [t.name for t in self.api_tokens]
        if len(set(names)) != len(names):
            raise ValueError("SHADOW_API_TOKENS: each token needs its own name (it is recorded as who acted)")
        if len({t.token.get_secret_value() for t in self.api_tokens}) != len(self.api_tokens):
            raise ValueError("SHADOW_API_TOKENS: two entries share one token; give each holder its own")
        return self


class ReviewSettings(_Section):
    """People in the loop: the review queue and judge calibration against people (docs/review.md).
    (The answers they read are kept by the scoring stage and the sink: ScoringSettings.answers_*.)"""

    review_random_share: float = Field(0.2, ge=0, le=1, description="share of the review queue drawn at random, "
                                       "so the calibration sample stays unbiased")
    judge_min_kappa: float = Field(0.4, ge=-1, le=1, description="a judge version whose Cohen's kappa with people "
                                   "is below this no longer counts as promotion evidence")
    judge_calibration_min_pairs: int = Field(20, ge=1, description="pairs rated by both the judge and people "
                                             "before the agreement floor applies")


SECTIONS: dict[str, type[_Section]] = {
    "connections": ConnectionSettings,
    "stack": StackSettings,
    "gateway": GatewaySettings,
    "capture": CaptureSettings,
    "models": ModelSettings,
    "worker": WorkerSettings,
    "scoring": ScoringSettings,
    "promotion": PromotionSettings,
    "alerts": AlertSettings,
    "operations": OperationsSettings,
    "rollout": RolloutSettings,
    "access": AccessSettings,
    "review": ReviewSettings,
}

_S = TypeVar("_S", bound=_Section)


class Settings(ConnectionSettings, StackSettings, GatewaySettings, CaptureSettings, ModelSettings, WorkerSettings,
               ScoringSettings, PromotionSettings, AlertSettings, OperationsSettings, RolloutSettings, AccessSettings,
               ReviewSettings, BaseSettings):
    """Everything configurable, from SHADOW_* variables (nested ones as JSON): every section's fields."""

    # hide_input_in_errors: a rejected setting's message must never echo a password or key.
    model_config = SettingsConfigDict(env_prefix="SHADOW_", extra="ignore", frozen=False, hide_input_in_errors=True)

    def _section(self, section: type[_S]) -> _S:
        # Already validated here: the section is a read-only copy of this object's values.
        return section.model_construct(**{name: getattr(self, name) for name in section.model_fields})

    @property
    def connections(self) -> ConnectionSettings:
        return self._section(ConnectionSettings)

    @property
    def stack(self) -> StackSettings:
        return self._section(StackSettings)

    @property
    def gateway(self) -> GatewaySettings:
        return self._section(GatewaySettings)

    @property
    def capture(self) -> CaptureSettings:
        return self._section(CaptureSettings)

    @property
    def models(self) -> ModelSettings:
        return self._section(ModelSettings)

    @property
    def worker(self) -> WorkerSettings:
        return self._section(WorkerSettings)

    @property
    def scoring(self) -> ScoringSettings:
        return self._section(ScoringSettings)

    @property
    def promotion(self) -> PromotionSettings:
        return self._section(PromotionSettings)

    @property
    def alerts(self) -> AlertSettings:
        return self._section(AlertSettings)

    @property
    def operations(self) -> OperationsSettings:
        return self._section(OperationsSettings)

    @property
    def rollout(self) -> RolloutSettings:
        return self._section(RolloutSettings)

    @property
    def access(self) -> AccessSettings:
        return self._section(AccessSettings)

    @property
    def review(self) -> ReviewSettings:
        return self._section(ReviewSettings)
