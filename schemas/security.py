"""The security sections of the settings: Kafka (SASL/TLS), Redis and ClickHouse credentials.

Plain pydantic, no other project import (schemas.settings builds these from its SHADOW_* fields). Every
password is a SecretStr: its repr and str are `**********`, and `describe()` never includes it. The
models hide their input in validation errors, so a rejected configuration never echoes a password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

__all__ = ["KafkaSecurity", "RedisSecurity", "ClickHouseSecurity", "KafkaProtocol", "SaslMechanism"]

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(BaseModel):
    """How a Kafka client authenticates and encrypts: the same for every client of the project."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    protocol: KafkaProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_file: Path | None = None  # unset: the system's trusted CAs
    ssl_cert_file: Path | None = None  # client certificate (mTLS), PEM
    ssl_key_file: Path | None = None  # its private key, PEM
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @model_validator(mode="after")
    def _consistent(self) -> "KafkaSecurity":
        if self.uses_sasl and not (self.sasl_username and self.sasl_password):
            raise ValueError(f"SHADOW_KAFKA_SECURITY_PROTOCOL={self.protocol} needs SHADOW_KAFKA_SASL_USERNAME and "
                             "SHADOW_KAFKA_SASL_PASSWORD")
        if not self.uses_sasl and (self.sasl_username or self.sasl_password):
            raise ValueError("SHADOW_KAFKA_SASL_USERNAME/_PASSWORD are set but SHADOW_KAFKA_SECURITY_PROTOCOL="
                             f"{self.protocol} does not use SASL: set it to SASL_SSL (or SASL_PLAINTEXT)")
        tls_files = [name for name, value in (("SHADOW_KAFKA_SSL_CA_FILE", self.ssl_ca_file),
                                              ("SHADOW_KAFKA_SSL_CERT_FILE", self.ssl_cert_file),
                                              ("SHADOW_KAFKA_SSL_KEY_FILE", self.ssl_key_file)) if value]
        if tls_files and not self.uses_tls:
            raise ValueError(f"{', '.join(tls_files)} set but SHADOW_KAFKA_SECURITY_PROTOCOL={self.protocol} does "
                             "not use TLS: set it to SSL or SASL_SSL")
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("mTLS needs both SHADOW_KAFKA_SSL_CERT_FILE and SHADOW_KAFKA_SSL_KEY_FILE")
        return self

    def describe(self) -> str:
        """One line for status output and logs: never the password."""
        parts = [self.protocol]
        if self.uses_sasl:
            parts.append(f"{self.sasl_mechanism} user {self.sasl_username}")
        if self.uses_tls:
            parts.append(f"CA {self.ssl_ca_file or 'system'}")
            if self.ssl_cert_file:
                parts.append(f"client cert {self.ssl_cert_file}")
        return ", ".join(parts)


class RedisSecurity(BaseModel):
    """AUTH (a password, or an ACL user and password) and the CA of a rediss:// server."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "RedisSecurity":
        if self.username and self.password is None:
            raise ValueError("SHADOW_REDIS_USERNAME needs SHADOW_REDIS_PASSWORD (an ACL user authenticates with both)")
        return self


class ClickHouseSecurity(BaseModel):
    """User and password of a ClickHouse server, and the CA its https:// certificate is checked against."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
