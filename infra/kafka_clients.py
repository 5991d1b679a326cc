"""The one place a Kafka client's configuration is made: confluent-kafka (producer, consumer, admin) and
Faust/aiokafka (the worker) get bootstrap servers, SASL and TLS from here, never on their own.

tests/unit/infra/test_kafka_clients.py checks that no other module of the product writes
"bootstrap.servers" itself.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from schemas.errors import ConfigError
from schemas.security import KafkaSecurity

__all__ = ["kafka_config", "faust_credentials", "tls_context", "ensure_topics"]

_PLAINTEXT = KafkaSecurity()


def _readable(path: object, setting: str) -> str:
    from pathlib import Path

    file = Path(str(path))
    if not file.is_file():
        raise ConfigError(f"{setting}={file} is not a readable file: point it at the PEM file")
    return str(file)


def kafka_config(bootstrap: str, security: KafkaSecurity | None = None,
                 extra: Mapping[str, object] | None = None) -> dict[str, object]:
    """A confluent-kafka (librdkafka) configuration: bootstrap, security, then the caller's own keys.

    The result holds the password in clear (librdkafka needs it): pass it to the client, never print it.
    """
    security = security or _PLAINTEXT
    config: dict[str, object] = {"bootstrap.servers": bootstrap,
                                 "security.protocol": security.protocol.lower()}
    if security.uses_sasl:
        assert security.sasl_password is not None  # checked by KafkaSecurity
        config.update({"sasl.mechanism": security.sasl_mechanism, "sasl.username": security.sasl_username,
                       "sasl.password": security.sasl_password.get_secret_value()})
    if security.uses_tls:
        if security.ssl_ca_file:
            config["ssl.ca.location"] = _readable(security.ssl_ca_file, "SHADOW_KAFKA_SSL_CA_FILE")
        if security.ssl_cert_file and security.ssl_key_file:
            config["ssl.certificate.location"] = _readable(security.ssl_cert_file, "SHADOW_KAFKA_SSL_CERT_FILE")
            config["ssl.key.location"] = _readable(security.ssl_key_file, "SHADOW_KAFKA_SSL_KEY_FILE")
            if security.ssl_key_password is not None:
                config["ssl.key.password"] = security.ssl_key_password.get_secret_value()
        config["ssl.endpoint.identification.algorithm"] = "https" if security.ssl_check_hostname else "none"
    for key, value in (extra or {}).items():
        if key in config and key != "bootstrap.servers":
            raise ValueError(f"{key} is set by the security settings, not by the caller")
        config[key] = value
    return config


def tls_context(security: KafkaSecurity) -> ssl.SSLContext:
    """The TLS context aiokafka uses: the CA file (or the system's CAs) and the client certificate for mTLS."""
    cafile = _readable(security.ssl_ca_file, "SHADOW_KAFKA_SSL_CA_FILE") if security.ssl_ca_file else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.check_hostname = security.ssl_check_hostname
    if security.ssl_cert_file and security.ssl_key_file:
        password = security.ssl_key_password.get_secret_value() if security.ssl_key_password else None
        context.load_cert_chain(_readable(security.ssl_cert_file, "SHADOW_KAFKA_SSL_CERT_FILE"),
                                _readable(security.ssl_key_file, "SHADOW_KAFKA_SSL_KEY_FILE"), password=password)
    return context


def faust_credentials(security: KafkaSecurity | None) -> Any:
    """Faust's `broker_credentials` (passed on to aiokafka): None for PLAINTEXT."""
    import faust

    security = security or _PLAINTEXT
    if security.uses_sasl:
        assert security.sasl_password is not None
        return faust.SASLCredentials(
            username=security.sasl_username, password=security.sasl_password.get_secret_value(),
            mechanism=security.sasl_mechanism,
            ssl_context=tls_context(security) if security.uses_tls else None)
    if security.uses_tls:
        return faust.SSLCredentials(tls_context(security))
    return None


def ensure_topics(bootstrap: str, names: list[str], partitions: int, timeout_s: float = 30.0,
                  security: KafkaSecurity | None = None) -> list[str]:
    """Create the topics that do not exist yet (replication 1 locally, the broker default elsewhere)."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(kafka_config(bootstrap, security))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [NewTopic(name, num_partitions=partitions) for name in names if name not in existing]
    created = []
    if wanted:
        for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
            try:
                future.result(timeout=timeout_s)
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # another process won the race
                    raise
    return created
