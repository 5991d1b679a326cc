"""The one Settings object, read from the environment (prefix SHADOW_) by the entry point only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import Topics

__all__ = ["Settings", "ChallengerConfig", "ModelPrice"]


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


class ChallengerConfig(BaseModel):
    """A model that receives a replay of sampled production traffic."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    base_url: str = Field(description="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    model: str
    kind: Literal["chat"] = "chat"
    timeout_s: float = Field(30.0, gt=0)
    api_key: SecretStr | None = None
    control: bool = Field(False, description="The production model asked again: measures the noise floor")
    price: ModelPrice = ModelPrice()


class Settings(BaseSettings):
    """Everything configurable, from SHADOW_* variables (nested ones as JSON)."""

    model_config = SettingsConfigDict(env_prefix="SHADOW_", extra="ignore")

    # Where the services are. Unset means: the local stack started by `shadow-optic stack up`.
    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    clickhouse_url: str | None = Field(
        None, description="http(s)://user:pass@host:8123/db for a server, chdb:///dir for the embedded engine"
    )

    state_dir: Path = Field(default_factory=_default_state_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    kafka_version: str = "4.4.0"
    kafka_port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    redis_port: int = Field(0, ge=0, le=65535)
    clickhouse_port: int = Field(0, ge=0, le=65535)

    topic_prefix: str = ""
    topic_partitions: int = Field(4, ge=1)
    consumer_group: str = "shadow-optic"

    # Gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8080, ge=0, le=65535)
    production_url: str = "http://127.0.0.1:8101/v1"
    production_api_key: SecretStr | None = None
    production_model_rev: str = "unknown"
    upstream_timeout_s: float = Field(120.0, gt=0)
    app_name: str = "default"
    sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
    publisher_buffer_bytes: int = Field(64 * 1024 * 1024, ge=1024 * 1024)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)

    # Worker
    challengers: list[ChallengerConfig] = Field(default_factory=list)
    prices: dict[str, ModelPrice] = Field(default_factory=dict, description="per production model name")
    replay_batch_size: int = Field(64, ge=1)
    replay_concurrency: int = Field(32, ge=1)
    sink_batch_size: int = Field(500, ge=1)
    sink_batch_seconds: float = Field(1.0, gt=0)
    max_event_bytes: int = Field(1024 * 1024, ge=1024)
    worker_web_port: int = Field(6066, ge=0, le=65535)
    log_level: str = "INFO"

    # --- gateway settings (producers/) ---

    # --- stream agent settings (stream_agents/) ---

    # --- analytics settings (analytics/) ---

    # --- operations settings (lag monitor, backfill, API) ---

    @field_validator("challengers")
    @classmethod
    def _unique_challenger_names(cls, value: list[ChallengerConfig]) -> list[ChallengerConfig]:
        names = [c.name for c in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"challenger names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)

    def price_of(self, model: str) -> ModelPrice:
        return self.prices.get(model, ModelPrice())
