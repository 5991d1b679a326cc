"""What `stack up --secure` makes once under the state directory: a local CA, the broker's certificate,
and the passwords of the Kafka SCRAM users and of Redis.

Made with `openssl` (no Python crypto dependency). The passwords are random, kept in one file readable by
the owner only (0600), and never written to stack.json, a log or the terminal: clients read them from
that file through `resolve_settings`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

from pydantic import BaseModel, SecretStr

from schemas.errors import StackError

__all__ = ["SecureMaterial", "ensure_secure_material", "KAFKA_CLIENT_USER", "KAFKA_ADMIN_USER"]

KAFKA_CLIENT_USER = "shadow"  # what the project's clients log in as (SCRAM-SHA-256 and -512)
KAFKA_ADMIN_USER = "broker"  # the broker's own inter-broker login


class SecureMaterial(BaseModel):
    """Paths of the TLS files and the secrets file; the passwords themselves only as SecretStr."""

    directory: Path
    ca_file: Path  # PEM: what clients trust
    keystore_file: Path  # PKCS12: the broker's key and certificate chain
    secrets_file: Path  # JSON, 0600
    keystore_password: SecretStr
    kafka_client_password: SecretStr
    kafka_admin_password: SecretStr
    redis_password: SecretStr


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        raise StackError("`openssl` is not on PATH: install it (Debian: `apt-get install -y openssl`) to run "
                         "`stack up --secure`")
    proc = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        # openssl's own messages name files and algorithms, never the pass phrases (given by file).
        raise StackError(f"openssl {args[0]} failed making the local CA/certificates in {cwd}:\n{proc.stderr[-1500:]}")


def ensure_secure_material(state_dir: Path) -> SecureMaterial:
    """The CA, broker keystore and passwords under <state_dir>/secure, made on first use and kept."""
    directory = state_dir / "secure"
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    secrets_file = directory / "secrets.json"
    ca_file, keystore = directory / "ca.pem", directory / "broker.p12"
    if secrets_file.exists() and ca_file.exists() and keystore.exists():
        stored = json.loads(secrets_file.read_text())
    else:
        stored = {name: secrets.token_urlsafe(24) for name in
                  ("keystore_password", "kafka_client_password", "kafka_admin_password", "redis_password")}
        pass_file = directory / "keystore.pass"
        _write_private(pass_file, stored["keystore_password"])
        _write_private(directory / "san.cnf", "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        try:
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
                     "-days", "3650", "-subj", "/CN=shadow-optic local CA", cwd=directory)
            _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
                     "-subj", "/CN=localhost", cwd=directory)
            _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                     "-out", "broker.pem", "-days", "825", "-extfile", "san.cnf", cwd=directory)
            _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
                     "-name", "broker", "-out", "broker.p12", "-passout", f"file:{pass_file}", cwd=directory)
        finally:
            pass_file.unlink(missing_ok=True)
        for private in ("ca.key", "broker.key"):
            os.chmod(directory / private, 0o600)
        _write_private(secrets_file, json.dumps(stored))
    return SecureMaterial(directory=directory, ca_file=ca_file, keystore_file=keystore, secrets_file=secrets_file,
                          **{name: SecretStr(value) for name, value in stored.items()})
