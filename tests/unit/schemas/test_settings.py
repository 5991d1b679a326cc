import typing

import pytest
from pydantic import ValidationError

from schemas.settings import SECTIONS, ChallengerConfig, ModelPrice, ScoringSettings, Settings
from schemas.topics import Topics


def test_settings_read_the_shadow_prefix_and_json_lists(monkeypatch):
    monkeypatch.setenv("SHADOW_KAFKA_BOOTSTRAP", "broker:9092")
    monkeypatch.setenv("SHADOW_CHALLENGERS", '[{"name": "c1", "base_url": "http://x/v1", "model": "m", '
                                             '"api_key": "sk-very-private", "price": {"input_per_1k": 0.5}}]')
    monkeypatch.setenv("SHADOW_TOPIC_PREFIX", "staging.")
    settings = Settings()
    assert settings.kafka_bootstrap == "broker:9092"
    assert settings.challengers[0].api_key.get_secret_value() == "sk-very-private"
    assert "sk-very-private" not in repr(settings)
    assert settings.topics.requests == "staging.shadow.requests"


def test_duplicate_challenger_names_are_refused_with_the_name():
    one = ChallengerConfig(name="dup", base_url="http://x/v1", model="m")
    with pytest.raises(ValidationError, match="dup"):
        Settings(challengers=[one, one])


def test_a_challenger_name_must_be_safe_for_keys_and_labels():
    with pytest.raises(ValidationError):
        ChallengerConfig(name="has space", base_url="http://x/v1", model="m")


def test_sample_ratio_is_bounded():
    with pytest.raises(ValidationError):
        Settings(sample_ratio=1.5)


def test_price_is_per_thousand_tokens():
    assert ModelPrice(input_per_1k=0.03, output_per_1k=0.06).cost(1000, 500) == pytest.approx(0.06)
    assert Settings().price_of("unknown-model").cost(10_000, 10_000) == 0.0


def test_topics_are_distinct_and_prefixed():
    topics = Topics.with_prefix("p.")
    assert len(set(topics.all())) == 5
    assert all(name.startswith("p.shadow.") for name in topics.all())


def test_prices_follow_the_model_name_never_the_role():
    from schemas.settings import BUILTIN_PRICES, ChallengerConfig, ModelPrice, Settings

    gpt4_again = ChallengerConfig(name="gpt-4-control", base_url="http://x/v1", model="gpt-4", control=True)
    settings = Settings()
    # The same model costs the same as production and as a challenger (the control here).
    assert settings.price_of("gpt-4") == settings.challenger_price(gpt4_again) == BUILTIN_PRICES["gpt-4"]
    own = Settings(prices={"gpt-4": ModelPrice(input_per_1k=1.0, output_per_1k=2.0),
                           "my-model": ModelPrice(input_per_1k=0.5)})
    assert own.challenger_price(gpt4_again) == own.price_of("gpt-4") == ModelPrice(input_per_1k=1.0, output_per_1k=2.0)
    mine = ChallengerConfig(name="c", base_url="http://x/v1", model="my-model")
    assert own.challenger_price(mine).input_per_1k == 0.5
    # A challenger's own price still wins; a model in no table is priced at zero.
    pinned = mine.model_copy(update={"price": ModelPrice(input_per_1k=9.0)})
    assert own.challenger_price(pinned).input_per_1k == 9.0 and Settings().price_of("unknown") == ModelPrice()


# Every SHADOW_* variable users had when Settings was split into sections (issue 18): none may change.
USERS_VARIABLES = (
    "SHADOW_KAFKA_BOOTSTRAP", "SHADOW_REDIS_URL", "SHADOW_CLICKHOUSE_URL", "SHADOW_STATE_DIR", "SHADOW_CACHE_DIR",
    "SHADOW_KAFKA_VERSION", "SHADOW_KAFKA_PORT", "SHADOW_REDIS_PORT", "SHADOW_CLICKHOUSE_PORT",
    "SHADOW_TOPIC_PREFIX", "SHADOW_TOPIC_PARTITIONS", "SHADOW_CONSUMER_GROUP", "SHADOW_GATEWAY_HOST",
    "SHADOW_GATEWAY_PORT", "SHADOW_PRODUCTION_URL", "SHADOW_PRODUCTION_API_KEY", "SHADOW_PRODUCTION_MODEL_REV",
    "SHADOW_UPSTREAM_TIMEOUT_S", "SHADOW_APP_NAME", "SHADOW_SAMPLE_RATIO", "SHADOW_PUBLISHER_BUFFER_BYTES",
    "SHADOW_MAX_BODY_BYTES", "SHADOW_CHALLENGERS", "SHADOW_PRICES", "SHADOW_REPLAY_BATCH_SIZE",
    "SHADOW_REPLAY_CONCURRENCY", "SHADOW_SCORE_IN_REPLAY", "SHADOW_STAGE_BATCH_SECONDS", "SHADOW_SINK_BATCH_SIZE",
    "SHADOW_SINK_BATCH_SECONDS", "SHADOW_MAX_EVENT_BYTES", "SHADOW_WORKER_WEB_PORT", "SHADOW_LOG_LEVEL",
    "SHADOW_GATEWAY_UPSTREAMS", "SHADOW_GATEWAY_JSON_MODELS", "SHADOW_GATEWAY_JSON_ROUTES",
    "SHADOW_GATEWAY_SAMPLE_RATIOS", "SHADOW_GATEWAY_SAMPLE_KEYS", "SHADOW_GATEWAY_TENANT_HEADER",
    "SHADOW_GATEWAY_NO_REPLAY_HEADER", "SHADOW_GATEWAY_TAG_HEADER_PREFIX", "SHADOW_GATEWAY_SIDE_EFFECT_ROUTES",
    "SHADOW_GATEWAY_SIDE_EFFECT_METHODS", "SHADOW_GATEWAY_SECRET_HEADERS", "SHADOW_GATEWAY_SECRET_FIELDS",
    "SHADOW_GATEWAY_PII_KINDS", "SHADOW_GATEWAY_PII_PATTERNS", "SHADOW_GATEWAY_MODEL_REVS",
    "SHADOW_GATEWAY_CONNECT_TIMEOUT_S", "SHADOW_GATEWAY_MAX_CONNECTIONS", "SHADOW_GATEWAY_MAX_CAPTURE_BYTES",
    "SHADOW_GATEWAY_FOLLOW_CHAMPION", "SHADOW_GATEWAY_CHAMPION_POLL_S", "SHADOW_REPLAY_LAG_BUDGET_S",
    "SHADOW_REPLAY_MAX_ATTEMPTS", "SHADOW_REPLAY_RETRY_AFTER_CAP_S", "SHADOW_BREAKER_FAILURE_THRESHOLD",
    "SHADOW_BREAKER_OPEN_S", "SHADOW_BREAKER_HALF_OPEN_PROBES", "SHADOW_REGISTRY_REFRESH_S",
    "SHADOW_WORKER_HEARTBEAT_S", "SHADOW_CLAIM_TTL_S", "SHADOW_REPLAY_ALLOCATION",
    "SHADOW_REPLAY_ALLOCATION_FANOUT", "SHADOW_REPLAY_SHARED_BUDGET_USD", "SHADOW_REPLAY_SHARED_BUDGET_PERIOD",
    "SHADOW_REPLAY_PASS_SIMILARITY", "SHADOW_REPLAY_ALLOCATION_TARGET", "SHADOW_KAFKA_SESSION_TIMEOUT_S",
    "SHADOW_SHUTDOWN_TIMEOUT_S", "SHADOW_SIMILARITY_METHOD", "SHADOW_EMBEDDING_PROVIDER",
    "SHADOW_EMBEDDING_BASE_URL", "SHADOW_EMBEDDING_MODEL", "SHADOW_EMBEDDING_API_KEY",
    "SHADOW_EMBEDDING_CHUNK_CHARS", "SHADOW_EMBEDDING_BATCH_SIZE", "SHADOW_EMBEDDING_TIMEOUT_S",
    "SHADOW_EMBEDDING_CACHE_TTL_S", "SHADOW_JUDGE_BASE_URL", "SHADOW_JUDGE_MODEL", "SHADOW_JUDGE_MODE",
    "SHADOW_JUDGE_API_KEY", "SHADOW_JUDGE_SAMPLE_RATIO", "SHADOW_JUDGE_REPEATS", "SHADOW_JUDGE_RPS",
    "SHADOW_JUDGE_BURST", "SHADOW_JUDGE_CONCURRENCY", "SHADOW_JUDGE_BUDGET_USD", "SHADOW_JUDGE_PRICE_INPUT_PER_1K",
    "SHADOW_JUDGE_PRICE_OUTPUT_PER_1K", "SHADOW_JUDGE_TEMPERATURE", "SHADOW_JUDGE_TIMEOUT_S",
    "SHADOW_JUDGE_MAX_CHARS", "SHADOW_JUDGE_SEED", "SHADOW_SCORING_LABEL_FIELDS", "SHADOW_SCORING_NUMERIC_FIELDS",
    "SHADOW_PROMOTION_MIN_SAMPLES", "SHADOW_PROMOTION_DIURNAL_HOURS", "SHADOW_PROMOTION_WINDOW_HOURS",
    "SHADOW_PROMOTION_ALPHA", "SHADOW_PROMOTION_MARGIN", "SHADOW_PROMOTION_MSPRT_TAU",
    "SHADOW_PROMOTION_NOISE_FLOOR_TOLERANCE", "SHADOW_PROMOTION_MAX_DELTA_S", "SHADOW_QUALITY_MARGIN",
    "SHADOW_QUALITY_MSPRT_TAU", "SHADOW_PROMOTION_MIN_FAITHFULNESS", "SHADOW_PROMOTION_MIN_QUALITY",
    "SHADOW_PROMOTION_MAX_REFUSAL_RATE", "SHADOW_PROMOTION_MAX_ERROR_RATE",
    "SHADOW_PROMOTION_MAX_P95_LATENCY_DELTA_MS", "SHADOW_PROMOTION_MAX_COST_RATIO",
    "SHADOW_PROMOTION_SCORE_PROMOTE", "SHADOW_PROMOTION_SCORE_REVIEW", "SHADOW_PROMOTION_MAX_LAG_MESSAGES",
    "SHADOW_PROMOTION_MAX_LAG_SECONDS", "SHADOW_PROMOTION_CANARY_STEPS", "SHADOW_PROMOTION_CANARY_STEP_MINUTES",
    "SHADOW_ALERT_WINDOW_MINUTES", "SHADOW_ALERT_MAX_DELTA_S", "SHADOW_ALERT_MAX_P95_LATENCY_DELTA_MS",
    "SHADOW_ALERT_MAX_P95_LATENCY_INCREASE", "SHADOW_ALERT_MAX_REFUSAL_RATE", "SHADOW_ALERT_MAX_ERROR_RATE",
    "SHADOW_ALERT_CHANGE_DELTA", "SHADOW_ALERT_CHANGE_THRESHOLD", "SHADOW_ALERT_FIRE_AFTER",
    "SHADOW_ALERT_CLEAR_AFTER", "SHADOW_READINESS_MIN_PAIRS", "SHADOW_READINESS_MIN_SIMILARITY",
    "SHADOW_READINESS_MAX_P95_LATENCY_MS", "SHADOW_READINESS_MAX_ERRORS", "SHADOW_COST_BUDGET_USD_PER_DAY",
    "SHADOW_CHAMPION_KEY_PREFIX", "SHADOW_DECISIONS_WEBHOOK_URL", "SHADOW_LAG_ALERT_METRIC",
    "SHADOW_LAG_ALERT_FIRE_ABOVE", "SHADOW_LAG_ALERT_CLEAR_BELOW", "SHADOW_LAG_ALERT_CHECKS",
    "SHADOW_LAG_ALERT_WEBHOOK_URL", "SHADOW_LAG_CHECK_INTERVAL_S", "SHADOW_KAFKA_TOOLS_VERSION",
    "SHADOW_BACKFILL_QPS", "SHADOW_BACKFILL_CONCURRENCY", "SHADOW_BACKFILL_BATCH_SIZE",
)


def _another_valid_value(name: str, default: object) -> str:
    """An environment value for the setting that differs from its default and passes its limits."""
    field = Settings.model_fields[name]
    annotation = str(field.annotation)
    if name == "challengers":
        return '[{"name": "c9", "base_url": "http://x/v1", "model": "m"}]'
    if name == "prices":
        return '{"m": {"input_per_1k": 1.0}}'
    if "Literal" in annotation:
        return next(option for option in typing.get_args(field.annotation) if option != default)
    if isinstance(default, bool):
        return str(not default).lower()
    if isinstance(default, int):
        return str(default + 1)
    if isinstance(default, float):
        return str(default / 2 if default > 0 else 0.5)
    if isinstance(default, list):
        return "[0.5]" if "float" in annotation else '["x"]'
    if isinstance(default, dict):
        return '{"/x": 0.5}' if "float" in annotation else '{"/x": "http://h/v1"}'
    if "float" in annotation:
        return "1.5"
    if "Path" in annotation:
        return "/tmp/shadow-optic-elsewhere"
    return "http://h:1/v1" if default is None else f"{default}-x"


def test_every_variable_users_have_keeps_working(monkeypatch):
    defaults = Settings()
    for variable in USERS_VARIABLES:
        name = variable.removeprefix("SHADOW_").lower()
        assert name in Settings.model_fields, f"{variable} no longer read"
        monkeypatch.setenv(variable, _another_valid_value(name, getattr(defaults, name)))
    settings = Settings()
    for variable in USERS_VARIABLES:
        name = variable.removeprefix("SHADOW_").lower()
        assert getattr(settings, name) != getattr(defaults, name), f"{variable} was not read"


def test_every_setting_belongs_to_exactly_one_section_and_reads_through_it():
    owners: dict[str, list[str]] = {}
    for section_name, section in SECTIONS.items():
        for name in section.model_fields:
            owners.setdefault(name, []).append(section_name)
    assert set(owners) == set(Settings.model_fields), "add the setting to a section (schemas/settings.py docstring)"
    assert all(len(where) == 1 for where in owners.values()), {n: w for n, w in owners.items() if len(w) > 1}
    settings = Settings(judge_model="j", production_url="http://p/v1", topic_prefix="t.")
    assert isinstance(settings.scoring, ScoringSettings) and settings.scoring.judge_model == "j"
    assert settings.gateway.production_url == "http://p/v1" and settings.connections.topics.requests == "t.shadow.requests"
    changed = settings.model_copy(update={"judge_model": "k"})
    assert changed.scoring.judge_model == "k" and settings.scoring.judge_model == "j"
    with pytest.raises(ValidationError):  # a section is read-only: a component cannot change another's view
        settings.scoring.judge_model = "other"


def test_the_capture_defaults_are_the_settings_defaults():
    from producers.mirror import CaptureConfig

    assert CaptureConfig() == CaptureConfig.from_settings(Settings().capture)
    with pytest.raises(ValidationError):
        CaptureConfig(sample_ratio=1.5)
