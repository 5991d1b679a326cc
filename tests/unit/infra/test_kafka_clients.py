"""Every Kafka client's configuration comes from infra.kafka_clients, for each security protocol."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from infra.kafka_clients import faust_credentials, kafka_config, tls_context
from schemas.errors import ConfigError
from schemas.security import KafkaSecurity
from shadow_optic.stack.secure import ensure_secure_material

REPO = Path(__file__).resolve().parents[3]
PRODUCT_PACKAGES = ("producers", "stream_agents", "analytics", "schemas", "shadow_optic", "infra")


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_secure_material(tmp_path_factory.mktemp("tls")).ca_file


def test_plaintext_is_the_default_and_adds_nothing_but_the_protocol():
    assert kafka_config("k:9092", None, {"linger.ms": 5}) == {
        "bootstrap.servers": "k:9092", "security.protocol": "plaintext", "linger.ms": 5}
    assert faust_credentials(None) is None


def test_sasl_ssl_with_scram_for_librdkafka_and_aiokafka(ca_file: Path):
    security = KafkaSecurity(protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", sasl_username="svc",
                             sasl_password="s3cret-value", ssl_ca_file=ca_file)
    config = kafka_config("a:9093,b:9093", security)
    assert config["security.protocol"] == "sasl_ssl" and config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl.username"], config["sasl.password"]) == ("svc", "s3cret-value")
    assert config["ssl.ca.location"] == str(ca_file)
    assert config["ssl.endpoint.identification.algorithm"] == "https"

    auth = credentials_to_aiokafka_auth(faust_credentials(security))  # what Faust hands to aiokafka
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("svc", "s3cret-value")
    assert isinstance(auth["ssl_context"], ssl.SSLContext) and auth["ssl_context"].check_hostname
    assert "s3cret-value" not in repr(faust_credentials(security))


def test_sasl_plaintext_and_plain_mechanism():
    security = KafkaSecurity(protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p")
    assert kafka_config("k:1", security)["sasl.mechanism"] == "PLAIN"
    assert "ssl.ca.location" not in kafka_config("k:1", security)
    auth = credentials_to_aiokafka_auth(faust_credentials(security))
    assert (auth["security_protocol"], auth["ssl_context"]) == ("SASL_PLAINTEXT", None)


def test_mutual_tls_loads_the_client_certificate(tmp_path: Path):
    material = ensure_secure_material(tmp_path)
    # The broker's own key pair stands in for a client certificate signed by the same CA.
    security = KafkaSecurity(protocol="SSL", ssl_ca_file=material.ca_file,
                             ssl_cert_file=material.directory / "broker.pem",
                             ssl_key_file=material.directory / "broker.key", ssl_check_hostname=False)
    config = kafka_config("k:1", security)
    assert config["ssl.certificate.location"].endswith("broker.pem")
    assert config["ssl.key.location"].endswith("broker.key")
    assert config["ssl.endpoint.identification.algorithm"] == "none"
    assert "sasl.mechanism" not in config
    context = tls_context(security)
    assert context.check_hostname is False
    auth = credentials_to_aiokafka_auth(faust_credentials(security))
    assert auth["security_protocol"] == "SSL" and isinstance(auth["ssl_context"], ssl.SSLContext)


def test_a_missing_tls_file_is_a_clear_error(tmp_path: Path):
    security = KafkaSecurity(protocol="SSL", ssl_ca_file=tmp_path / "nope.pem")
    with pytest.raises(ConfigError, match="SHADOW_KAFKA_SSL_CA_FILE=.*nope.pem"):
        kafka_config("k:1", security)


def test_the_caller_cannot_override_the_security_settings():
    security = KafkaSecurity(protocol="SASL_SSL", sasl_username="u", sasl_password="p")
    with pytest.raises(ValueError, match="security.protocol"):
        kafka_config("k:1", security, {"security.protocol": "plaintext"})


@pytest.mark.parametrize("fields, message", [
    ({"protocol": "SASL_SSL", "sasl_username": "u"}, "needs SHADOW_KAFKA_SASL_USERNAME and SHADOW_KAFKA_SASL_PASSWORD"),
    ({"sasl_username": "u", "sasl_password": "pw-not-shown"}, "does not use SASL"),
    ({"ssl_ca_file": "/ca.pem"}, "does not use TLS"),
    ({"protocol": "SSL", "ssl_cert_file": "/c.pem"}, "both SHADOW_KAFKA_SSL_CERT_FILE and SHADOW_KAFKA_SSL_KEY_FILE"),
])
def test_inconsistent_security_is_refused_with_the_variables_named(fields, message):
    with pytest.raises(ValueError, match=message) as caught:
        KafkaSecurity(**fields)
    assert "pw-not-shown" not in str(caught.value)


def test_no_module_builds_a_kafka_client_config_itself():
    """One place: a client built with its own "bootstrap.servers" would miss SASL and TLS."""
    offenders = [str(path.relative_to(REPO)) for package in PRODUCT_PACKAGES for path in (REPO / package).rglob("*.py")
                 if '"bootstrap.servers"' in path.read_text(encoding="utf-8")
                 and path != REPO / "infra" / "kafka_clients.py"]
    assert offenders == []


def test_a_multi_broker_bootstrap_list_reaches_every_client():
    import faust
    from faust.transport.drivers.aiokafka import server_list

    assert kafka_config("b-1:9096,b-2:9096,b-3:9096", None)["bootstrap.servers"] == "b-1:9096,b-2:9096,b-3:9096"
    app = faust.App("probe", broker="kafka://b-1:9096,b-2:9096,b-3:9096")  # as stream_agents/app.py builds it
    assert server_list(app.conf.broker, 9092) == ["b-1:9096", "b-2:9096", "b-3:9096"]
