"""Where prompts may go (SHADOW_CHALLENGER_ALLOWED_HOSTS): a challenger, judge or embeddings endpoint outside
the allowed hosts is refused at registration (API, CLI, registry) and skipped by the worker, with a log line
and a metric. Whoever can write the Redis registry must not be able to send mirrored prompts to a new host.

Patterns are `host` (any port) or `host:port`, with shell wildcards in the host (`*.models.internal`).
Unset means: loopback, plus the hosts named at start in SHADOW_CHALLENGERS and in the judge and embeddings
URLs. Set means exactly the list (add `127.0.0.1` / `localhost` yourself if loopback is wanted).

In-process (kind python) challengers have no host but run code on the worker, so a registry write must not
name any importable callable (`os:system`): their targets are held to SHADOW_PYTHON_ALLOWED_TARGETS, or, unset,
to the targets named at start in SHADOW_CHALLENGERS.
"""

from __future__ import annotations

import ipaddress
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from schemas.errors import ConfigError
from schemas.settings import AccessSettings, ChallengerConfig, ModelSettings, ScoringSettings, Settings

__all__ = ["AllowedHosts"]

_LOOPBACK = ("localhost", "127.0.0.1", "::1")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigError(f"{url!r} is not a URL with a host (e.g. http://models.internal:8000/v1)")
    return parts.hostname.lower(), parts.port or _DEFAULT_PORTS.get(parts.scheme)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AllowedHosts:
    def __init__(self, patterns: list[str], loopback: bool = False, source: str = "SHADOW_CHALLENGER_ALLOWED_HOSTS",
                 targets: list[str] | None = None):
        self.patterns = [p.strip().lower() for p in patterns if p.strip()]
        self.loopback = loopback
        self.source = source
        self.targets = [t.strip() for t in targets or [] if t.strip()]

    @classmethod
    def from_settings(cls, settings: Settings) -> "AllowedHosts":
        return cls.from_sections(settings.access, settings.models, settings.scoring)

    @classmethod
    def from_sections(cls, access: AccessSettings, models: ModelSettings,
                      scoring: ScoringSettings | None) -> "AllowedHosts":
        targets = access.python_allowed_targets
        if targets is None:
            targets = [c.target for c in models.challengers if c.kind == "python" and c.target]
        if access.challenger_allowed_hosts is not None:
            return cls(access.challenger_allowed_hosts, targets=targets)
        named = [c.base_url for c in models.challengers if c.kind != "python"]
        if scoring is not None:
            named += [url for url in (scoring.judge_base_url, scoring.embedding_base_url) if url]
        return cls([_host_port(url)[0] for url in named], loopback=True, targets=targets,
                   source="the default (SHADOW_CHALLENGER_ALLOWED_HOSTS unset: loopback and the hosts of "
                          "SHADOW_CHALLENGERS, the judge and the embeddings URLs)")

    def allows(self, url: str) -> bool:
        try:
            host, port = _host_port(url)
        except ConfigError:
            return False
        if self.loopback and _is_loopback(host):
            return True
        for pattern in self.patterns:
            pattern_host, _, pattern_port = pattern.rpartition(":") if pattern.count(":") == 1 else (pattern, "", "")
            if fnmatchcase(host, pattern_host) and (not pattern_port or pattern_port == str(port)):
                return True
        return False

    def check(self, url: str, what: str) -> None:
        """Raise a ConfigError naming the endpoint and the setting when `url` is outside."""
        if not self.allows(url):
            host, port = _host_port(url)
            raise ConfigError(f"{what} at {host}:{port} is outside the allowed hosts ({self.source}); prompts are "
                              f"never sent there. Add `{host}` or `{host}:{port}` to SHADOW_CHALLENGER_ALLOWED_HOSTS "
                              "if it is yours")

    def allows_challenger(self, config: ChallengerConfig) -> bool:
        if config.kind == "python":
            return any(fnmatchcase(config.target or "", pattern) for pattern in self.targets)
        return self.allows(config.base_url)

    def check_challenger(self, config: ChallengerConfig) -> None:
        if config.kind != "python":
            self.check(config.base_url, f"challenger {config.name!r}")
        elif not self.allows_challenger(config):
            raise ConfigError(f"challenger {config.name!r} would run {config.target} in the worker, which is not an "
                              "allowed in-process target (SHADOW_PYTHON_ALLOWED_TARGETS, or unset: the targets named "
                              "in SHADOW_CHALLENGERS at start). Add it to SHADOW_PYTHON_ALLOWED_TARGETS if it is yours")

    def check_scoring_endpoints(self, settings: ScoringSettings) -> None:
        """The judge and the embeddings endpoint receive prompts and answers too."""
        if settings.judge_base_url:
            self.check(settings.judge_base_url, "the judge (SHADOW_JUDGE_BASE_URL)")
        if settings.embedding_base_url and settings.similarity_method == "embedding" \
                and settings.embedding_provider == "http":
            self.check(settings.embedding_base_url, "the embeddings endpoint (SHADOW_EMBEDDING_BASE_URL)")
