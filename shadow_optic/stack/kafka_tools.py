"""Kafka's own command-line tools (org.apache.kafka:kafka-tools), to cross-check our figures.

`kafka-consumer-groups.sh --describe` is a thin wrapper around
`org.apache.kafka.tools.consumer.group.ConsumerGroupCommand`; we resolve the artifact with mvn into a
cache outside the repo and run that class on Java. kafka-tools 4.4.0 is not on Maven Central (checked
2026-11: "Could not find artifact org.apache.kafka:kafka-tools:jar:4.4.0 in central"), so the default
is the newest version that resolves; the wire protocol lets a 4.3 tool describe a 4.4 broker.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel

from schemas.errors import StackError

__all__ = ["DescribedPartition", "ensure_kafka_tools", "describe_consumer_group", "parse_describe_output"]

_CONSUMER_GROUP_COMMAND = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"

_POM = """\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.shadow-optic</groupId>
  <artifactId>kafka-tools-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>{version}</version></dependency>
    <!-- kafka-tools leaves the slf4j backend out; nop keeps the tool's output to its table -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-nop</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
"""


class DescribedPartition(BaseModel):
    """One row of `kafka-consumer-groups.sh --describe`; None where the tool prints '-'."""

    group: str
    topic: str
    partition: int
    current_offset: int | None
    log_end_offset: int | None
    lag: int | None
    consumer_id: str | None = None


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"`{tool}` is not on PATH; kafka-tools needs Maven and Java 17+ "
                         "(Debian: `apt-get install -y maven openjdk-17-jre-headless`)")
    return path


def ensure_kafka_tools(cache_dir: Path, version: str) -> Path:
    """The folder of kafka-tools' runtime jars, resolved with mvn once and reused afterwards."""
    libs = cache_dir / f"kafka-tools-{version}" / "libs"
    if (libs / ".complete").exists():
        return libs
    mvn = _require("mvn")
    partial = libs.with_name("libs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        pom = Path(tmp) / "pom.xml"
        pom.write_text(_POM.format(version=version))
        proc = subprocess.run([mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
                               "-DincludeScope=runtime", f"-DoutputDirectory={partial}"],
                              capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise StackError(
            f"mvn could not resolve org.apache.kafka:kafka-tools:{version} (exit {proc.returncode}); "
            f"set SHADOW_KAFKA_TOOLS_VERSION to a version Maven Central has (4.3.1 is known to resolve). "
            f"mvn said:\n{(proc.stdout + proc.stderr)[-2000:]}")
    shutil.rmtree(libs, ignore_errors=True)
    partial.rename(libs)
    (libs / ".complete").write_text(version)
    return libs


def describe_consumer_group(libs: Path, bootstrap: str, group: str, timeout_s: float = 120.0) -> list[DescribedPartition]:
    """Run ConsumerGroupCommand --describe, as kafka-consumer-groups.sh does, and parse its table."""
    java = _require("java")
    proc = subprocess.run([java, "-Xmx256m", "-cp", f"{libs}/*", _CONSUMER_GROUP_COMMAND,
                           "--bootstrap-server", bootstrap, "--describe", "--group", group],
                          capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise StackError(f"ConsumerGroupCommand --describe --group {group} failed (exit {proc.returncode}):\n"
                         f"{(proc.stdout + proc.stderr)[-2000:]}")
    return parse_describe_output(proc.stdout)


def _number(value: str) -> int | None:
    return None if value == "-" else int(value)


def parse_describe_output(text: str) -> list[DescribedPartition]:
    """Rows of the describe table; the header names the columns, so their order may change."""
    rows: list[DescribedPartition] = []
    header: list[str] | None = None
    for line in text.splitlines():
        cells = line.split()
        if not cells:
            continue
        if cells[0] == "GROUP" and "PARTITION" in cells:
            header = cells
            continue
        if header is None or len(cells) < len(header):
            continue  # banners such as "Consumer group 'x' has no active members."
        row = dict(zip(header, cells, strict=False))
        rows.append(DescribedPartition(
            group=row["GROUP"], topic=row["TOPIC"], partition=int(row["PARTITION"]),
            current_offset=_number(row["CURRENT-OFFSET"]), log_end_offset=_number(row["LOG-END-OFFSET"]),
            lag=_number(row["LAG"]), consumer_id=None if row.get("CONSUMER-ID", "-") == "-" else row["CONSUMER-ID"],
        ))
    return rows
