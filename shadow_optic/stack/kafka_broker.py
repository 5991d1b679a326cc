"""Apache Kafka 4.x in KRaft mode, single node, from jars Maven resolves into a cache outside the repo."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from infra.kafka_clients import kafka_config
from schemas.errors import StackError
from schemas.security import KafkaSecurity
from shadow_optic.stack.processes import ManagedProcess, start_process, wait_until

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from shadow_optic.stack.secure import SecureMaterial

__all__ = ["ensure_kafka_jars", "start_kafka", "kafka_ready", "wait_for_kafka"]

_LOG4J2 = """\
Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
"""


def _require(tool: str, fix: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"`{tool}` is not on PATH; {fix}")
    return path


def ensure_kafka_jars(cache_dir: Path, version: str) -> Path:
    """The folder of the broker's runtime jars, resolved with mvn once and reused afterwards."""
    libs = cache_dir / f"kafka-{version}" / "libs"
    done_marker = libs / ".complete"
    if done_marker.exists():
        return libs
    mvn = _require("mvn", "install Maven (Debian: `apt-get install -y maven`) or set SHADOW_KAFKA_BOOTSTRAP "
                          "to an existing Kafka cluster")
    _require("java", "install Java 17+ (Debian: `apt-get install -y openjdk-17-jre-headless`)")
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pom = resources.files("shadow_optic.stack") / "kafka-pom.xml"
    with resources.as_file(pom) as pom_path:
        proc = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies", "-DincludeScope=runtime",
             f"-Dkafka.version={version}", f"-DoutputDirectory={partial}"],
            capture_output=True, text=True, timeout=900,
        )
    if proc.returncode != 0:
        raise StackError(
            f"mvn could not resolve org.apache.kafka:kafka_2.13:{version} from Maven Central "
            f"(exit {proc.returncode}). Check network access to Maven Central or set SHADOW_KAFKA_VERSION. "
            f"mvn said:\n{(proc.stdout + proc.stderr)[-2000:]}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    done_marker.write_text(version)
    return libs


def _listener_properties(port: int, controller_port: int, secure: SecureMaterial | None) -> list[str]:
    if secure is None:
        return [f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT"]
    # One client listener, SASL over TLS (SCRAM users made at format time); the broker logs in to itself
    # as its own SCRAM user. The controller listener is loopback-only and speaks only the KRaft protocol.
    from shadow_optic.stack.secure import KAFKA_ADMIN_USER

    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{KAFKA_ADMIN_USER}" '
            f'password="{secure.kafka_admin_password.get_secret_value()}";')
    keystore_password = secure.keystore_password.get_secret_value()
    return [f"listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{port}",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=SASL_SSL",
            "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            # Every enabled mechanism needs a login entry on the listener (SCRAM servers ignore its user).
            f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={jaas}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            "ssl.keystore.type=PKCS12", f"ssl.keystore.location={secure.keystore_file}",
            f"ssl.keystore.password={keystore_password}", f"ssl.key.password={keystore_password}",
            "ssl.truststore.type=PEM", f"ssl.truststore.location={secure.ca_file}",
            "ssl.client.auth=none"]


def _scram_users(secure: SecureMaterial) -> list[str]:
    """StorageTool arguments that create the SCRAM users in the cluster's first metadata."""
    from shadow_optic.stack.secure import KAFKA_ADMIN_USER, KAFKA_CLIENT_USER

    users = [(KAFKA_CLIENT_USER, secure.kafka_client_password), (KAFKA_ADMIN_USER, secure.kafka_admin_password)]
    return [arg for name, password in users for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512")
            for arg in ("--add-scram", f"{mechanism}=[name={name},password={password.get_secret_value()}]")]


def _server_properties(data_dir: Path, port: int, controller_port: int, secure: SecureMaterial | None = None) -> str:
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
        *_listener_properties(port, controller_port, secure),
        "controller.listener.names=CONTROLLER",
        f"log.dirs={data_dir / 'logs'}",
        "num.partitions=4",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.retention.hours=168",
        "",
    ])


def start_kafka(libs: Path, data_dir: Path, port: int, controller_port: int, heap_mb: int = 512,
                secure: SecureMaterial | None = None) -> ManagedProcess:
    """Format the storage on first use, then start the broker; returns once it was launched.

    With `secure`, the one client listener is SASL_SSL (the SCRAM users are added at format time) and
    server.properties, which then holds passwords, is readable by its owner only.
    """
    java = _require("java", "install Java 17+ (Debian: `apt-get install -y openjdk-17-jre-headless`)")
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "server.properties"
    config.touch(mode=0o600)
    config.chmod(0o600 if secure else 0o644)
    config.write_text(_server_properties(data_dir, port, controller_port, secure))
    log4j = data_dir / "log4j2.yaml"
    log4j.write_text(_LOG4J2)
    classpath = f"{libs}/*"
    jvm = [java, f"-Xms{heap_mb // 2}m", f"-Xmx{heap_mb}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
           "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    if not (data_dir / "logs" / "meta.properties").exists():
        cluster_id = _random_cluster_id()
        users = _scram_users(secure) if secure else []
        proc = subprocess.run(jvm + ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), *users],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr)[-2000:]
            if secure:  # the tool may echo its arguments: never the passwords
                for secret in (secure.kafka_client_password, secure.kafka_admin_password):
                    output = output.replace(secret.get_secret_value(), "***")
            raise StackError(f"formatting Kafka storage in {data_dir} failed:\n{output}")
    return start_process("kafka", jvm + ["kafka.Kafka", str(config)], data_dir / "kafka.log",
                         marker=str(config))


def _random_cluster_id() -> str:
    """A base64url UUID without padding, as `StorageTool random-uuid` prints it.

    Like Kafka's own Uuid.randomUuid, never one that starts with "-": the storage tool's argument
    parser would read it as an option ("argument --cluster-id/-t: expected one argument").
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def kafka_ready(bootstrap: str, timeout_s: float = 5.0, admin: "AdminClient | None" = None,
                security: KafkaSecurity | None = None) -> bool:
    """True once the broker answers a metadata request."""
    admin = admin or _quiet_admin(bootstrap, security)
    metadata = admin.list_topics(timeout=timeout_s)
    return bool(metadata.brokers)


def _quiet_admin(bootstrap: str, security: KafkaSecurity | None = None) -> "AdminClient":
    from confluent_kafka.admin import AdminClient

    # log_level 0: "connection refused" while the broker boots is expected, not worth printing.
    return AdminClient(kafka_config(bootstrap, security, {"socket.timeout.ms": 2000, "log_level": 0}))


def wait_for_kafka(bootstrap: str, process: ManagedProcess | None, timeout_s: float,
                   security: KafkaSecurity | None = None) -> None:
    admin = _quiet_admin(bootstrap, security)
    wait_until(lambda: kafka_ready(bootstrap, 2.0, admin), timeout_s, f"Kafka broker at {bootstrap}", process)
