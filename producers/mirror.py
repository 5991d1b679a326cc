"""The capture every entry point shares (gateway, ASGI middleware, library call).

sample → normalise → redact → mark side effects → build the event → queue it. Never raises and
never blocks: whatever goes wrong is counted and the caller's request is left alone.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from producers.capture import RequestKind, kind_of_route, new_event_id, normalize_request, parse_response, request_hash
from producers.mirror_cap import MirrorCap
from producers.redaction import Redactor
from producers.sampling import SamplingPolicy
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest, Serving
from schemas.settings import CaptureSettings

__all__ = ["CaptureConfig", "CaptureOutcome", "CaptureResult", "EventSink", "Mirror", "MirrorCounters"]

log = logging.getLogger(__name__)

_MAX_TAGS = 32
_MAX_TAG_CHARS = 256
_FALSY = {"", "0", "false", "no", "off"}


class EventSink(Protocol):
    def publish(self, event: InferenceEvent) -> bool: ...


# CaptureConfig's field -> the setting (SHADOW_<NAME>) it comes from, whose default and limits it takes.
_SETTING_OF = {
    "app": "app_name",
    "model_rev": "production_model_rev",
    "model_revs": "gateway_model_revs",
    "sample_ratio": "sample_ratio",
    "sample_ratios": "gateway_sample_ratios",
    "sample_keys": "gateway_sample_keys",
    "tenant_header": "gateway_tenant_header",
    "opt_out_tenants": "gateway_opt_out_tenants",
    "no_replay_header": "gateway_no_replay_header",
    "tag_header_prefix": "gateway_tag_header_prefix",
    "side_effect_routes": "gateway_side_effect_routes",
    "side_effect_methods": "gateway_side_effect_methods",
    "secret_headers": "gateway_secret_headers",
    "secret_fields": "gateway_secret_fields",
    "pii_kinds": "gateway_pii_kinds",
    "pii_patterns": "gateway_pii_patterns",
    "max_capture_bytes": "gateway_max_capture_bytes",
    "max_events_per_s": "gateway_mirror_max_per_s",
    "max_events_per_s_routes": "gateway_mirror_max_per_s_routes",
}


def _as_setting(field: str) -> Any:
    """The field of CaptureSettings: one source of defaults for the gateway and library users."""
    return copy.deepcopy(CaptureSettings.model_fields[_SETTING_OF[field]])


class CaptureConfig(BaseModel):
    """The capture settings under short names; defaults suit a library user who configures nothing."""

    model_config = ConfigDict(frozen=True)

    app: str = _as_setting("app")
    model_rev: str = _as_setting("model_rev")
    model_revs: dict[str, str] = _as_setting("model_revs")
    sample_ratio: float = _as_setting("sample_ratio")
    sample_ratios: dict[str, float] = _as_setting("sample_ratios")
    sample_keys: list[str] = _as_setting("sample_keys")
    tenant_header: str = _as_setting("tenant_header")
    opt_out_tenants: list[str] = _as_setting("opt_out_tenants")
    no_replay_header: str = _as_setting("no_replay_header")
    tag_header_prefix: str = _as_setting("tag_header_prefix")
    side_effect_routes: list[str] = _as_setting("side_effect_routes")
    side_effect_methods: list[str] = _as_setting("side_effect_methods")
    secret_headers: list[str] = _as_setting("secret_headers")
    secret_fields: list[str] = _as_setting("secret_fields")
    pii_kinds: list[str] = _as_setting("pii_kinds")
    pii_patterns: dict[str, str] = _as_setting("pii_patterns")
    max_capture_bytes: int = _as_setting("max_capture_bytes")
    # Hard cap on events published per second, per route, after sampling (None: no cap).
    max_events_per_s: float | None = _as_setting("max_events_per_s")
    max_events_per_s_routes: dict[str, float] = _as_setting("max_events_per_s_routes")

    @classmethod
    def from_settings(cls, capture: CaptureSettings) -> CaptureConfig:
        """From the capture section (`settings.capture`; the whole Settings works too)."""
        return cls(**{field: getattr(capture, setting) for field, setting in _SETTING_OF.items()})


class CaptureOutcome(StrEnum):
    PUBLISHED = "published"
    SAMPLED_OUT = "sampled_out"
    OPTED_OUT = "opted_out"  # the tenant is on SHADOW_GATEWAY_OPT_OUT_TENANTS: never published
    DROPPED = "dropped"  # the publisher's buffer was full
    CAPPED = "capped"  # over the route's hard cap of events per second (SHADOW_GATEWAY_MIRROR_MAX_PER_S)
    QUEUE_FULL = "queue_full"  # the gateway's capture queue was full: the capture thread is behind
    FAILED = "failed"  # the exchange could not be turned into an event (counted, logged)


class CaptureResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    outcome: CaptureOutcome
    event_id: str | None = None
    replayable: bool | None = None
    not_replayable_reason: str | None = None


class MirrorCounters:
    """Plain integers under a lock: read by the metrics collector at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: Counter[str] = Counter()
        self.redactions: Counter[str] = Counter()
        self.not_replayable = 0
        self.capped: Counter[str] = Counter()  # by route

    def record(self, outcome: CaptureOutcome, redactions: Mapping[str, int] | None = None,
               not_replayable: bool = False, route: str | None = None) -> None:
        with self._lock:
            self.outcomes[outcome.value] += 1
            if outcome is CaptureOutcome.CAPPED and route is not None:
                self.capped[route] += 1
            if redactions:
                self.redactions.update(redactions)
            self.not_replayable += int(not_replayable)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"outcomes": dict(self.outcomes), "redactions": dict(self.redactions),
                    "not_replayable": self.not_replayable, "capped": dict(self.capped)}


def _loads(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


class Mirror:
    def __init__(self, config: CaptureConfig, sink: EventSink) -> None:
        self.config = config
        self.sink = sink
        self.counters = MirrorCounters()
        self.sampling = SamplingPolicy(config.sample_ratio, config.sample_ratios, config.sample_keys)
        self.redactor = Redactor(config.pii_kinds, config.pii_patterns, config.secret_fields, config.secret_headers)
        self._side_effect_routes = set(config.side_effect_routes)
        self._side_effect_methods = {m.upper() for m in config.side_effect_methods}
        self.cap = MirrorCap(config.max_events_per_s, config.max_events_per_s_routes)

    def capture(self, request: Any, response: Any = None, *, route: str, status_code: int = 200,
                method: str = "POST", headers: Mapping[str, str] | None = None,
                query: Mapping[str, str] | None = None, ts_request: datetime | None = None,
                ts_response: datetime | None = None, latency_ms: float | None = None, ttft_ms: float | None = None,
                tenant: str | None = None, tags: Mapping[str, str] | None = None, kind: RequestKind | None = None,
                complete: bool = True, not_replayable_reason: str | None = None,
                serving: Serving | None = None) -> CaptureResult:
        """Mirror one exchange. `request`/`response` are JSON bodies (dict, bytes or str)."""
        try:
            return self._capture(request, response, route, status_code, method, headers, query, ts_request,
                                 ts_response, latency_ms, ttft_ms, tenant, tags, kind, complete,
                                 not_replayable_reason, serving)
        except Exception:  # noqa: BLE001 - a shadow copy must never hurt the caller
            self.counters.record(CaptureOutcome.FAILED)
            failed = self.counters.outcomes[CaptureOutcome.FAILED.value]
            if failed & (failed - 1) == 0:  # log the 1st, 2nd, 4th, 8th… failure, not every one
                log.warning("could not capture an exchange on %s (%d so far)", route, failed, exc_info=True)
            return CaptureResult(outcome=CaptureOutcome.FAILED)

    def _capture(self, request: Any, response: Any, route: str, status_code: int, method: str,
                 headers: Mapping[str, str] | None, query: Mapping[str, str] | None, ts_request: datetime | None,
                 ts_response: datetime | None, latency_ms: float | None, ttft_ms: float | None, tenant: str | None,
                 tags: Mapping[str, str] | None, kind: RequestKind | None, complete: bool,
                 extra_reason: str | None, serving: Serving | None = None) -> CaptureResult:
        cfg = self.config
        lower = {k.lower(): v for k, v in (headers or {}).items()}
        ts_response = ts_response or datetime.now(UTC)
        if ts_request is None:
            ts_request = ts_response - timedelta(milliseconds=latency_ms or 0.0)
        body = _loads(request)
        tenant = tenant or lower.get(cfg.tenant_header.lower()) or None
        if tenant is not None and tenant in cfg.opt_out_tenants:
            self.counters.record(CaptureOutcome.OPTED_OUT)
            return CaptureResult(outcome=CaptureOutcome.OPTED_OUT)
        event_id = new_event_id(ts_request)
        key = self.sampling.key(lower, body, tenant, event_id)
        if not self.sampling.decide(route, key):
            self.counters.record(CaptureOutcome.SAMPLED_OUT)
            return CaptureResult(outcome=CaptureOutcome.SAMPLED_OUT, event_id=event_id)
        if not self.cap.admit(route):  # before the costly part: a capped event costs next to nothing
            self.counters.record(CaptureOutcome.CAPPED, route=route)
            return CaptureResult(outcome=CaptureOutcome.CAPPED, event_id=event_id)

        kind = kind or kind_of_route(route)
        counts: Counter[str] = Counter()
        clean_query = self.redactor.value(dict(query), counts) if query else None
        normalized, reason = normalize_request(kind, body, clean_query)
        normalized = self._redact_request(normalized, counts)
        raw_response = response if isinstance(response, (bytes, bytearray, str)) else None
        response_body = _loads(response)
        raw_text = ""
        if kind == "json" and response_body is None and raw_response is not None:
            raw_text = raw_response.decode("utf-8", "replace") if isinstance(raw_response, (bytes, bytearray)) \
                else raw_response
        if kind == "json" and response_body is not None:
            response_body = self.redactor.value(response_body, counts)
        captured = parse_response(kind, status_code, response_body, raw_text)
        captured = self._redact_response(captured, counts)

        reason = reason or extra_reason or self._side_effect_reason(route, method, lower)
        if reason is None and not complete:
            reason = "the production stream ended before its last chunk: nothing complete to compare against"
        if reason is None and status_code >= 400:
            reason = f"production answered {status_code}: nothing to compare against"

        production_model = normalized.model
        if isinstance(response_body, dict) and isinstance(response_body.get("model"), str) and kind != "json":
            production_model = response_body["model"]
        if not production_model and kind == "json":
            production_model = route.rsplit("/", 2)[-2] if route.endswith("/predict") else route
        event_tags = self._tags(lower, tags, response_body, counts)
        if latency_ms is None:
            latency_ms = max(0.0, (ts_response - ts_request).total_seconds() * 1000.0)
        event = InferenceEvent(
            event_id=event_id, app=cfg.app, route=route, tenant=self._clean(tenant, counts) if tenant else None,
            ts_request=ts_request, ts_response=ts_response, production_model=production_model or "unknown",
            production_model_rev=cfg.model_revs.get(production_model, cfg.model_rev), request=normalized,
            response=captured, latency_ms=max(0.0, latency_ms), ttft_ms=ttft_ms, replayable=reason is None,
            not_replayable_reason=reason, redactions=dict(counts), tags=event_tags,
            request_hash=request_hash(normalized), serving=serving,
        )
        published = self.sink.publish(event)
        outcome = CaptureOutcome.PUBLISHED if published else CaptureOutcome.DROPPED
        self.counters.record(outcome, counts, not_replayable=reason is not None)
        return CaptureResult(outcome=outcome, event_id=event_id, replayable=reason is None,
                             not_replayable_reason=reason)

    def _clean(self, text: str, counts: Counter[str]) -> str:
        return self.redactor.text(text[: self.config.max_capture_bytes], counts)

    def _redact_request(self, request: NormalizedRequest, counts: Counter[str]) -> NormalizedRequest:
        update: dict[str, Any] = {}
        if request.messages:
            update["messages"] = [
                ChatMessage(role=m.role, content=self._clean(m.content, counts),
                            name=self._clean(m.name, counts) if m.name else None)
                for m in request.messages]
        if request.prompt:
            update["prompt"] = self._clean(request.prompt, counts)
        if request.params:
            update["params"] = self.redactor.value(request.params, counts)
        return request.model_copy(update=update) if update else request

    def _redact_response(self, response: CapturedResponse, counts: Counter[str]) -> CapturedResponse:
        if not response.text:
            return response
        return response.model_copy(update={"text": self._clean(response.text, counts)})

    def _side_effect_reason(self, route: str, method: str, headers: Mapping[str, str]) -> str | None:
        flag = headers.get(self.config.no_replay_header.lower())
        if flag is not None and flag.strip().lower() not in _FALSY:
            return f"the caller marked it with {self.config.no_replay_header}"
        if "idempotency-key" in headers:
            return "an Idempotency-Key header: the caller treats this request as a side effect"
        if route in self._side_effect_routes:
            return f"route {route} is configured as having side effects (SHADOW_GATEWAY_SIDE_EFFECT_ROUTES)"
        if method.upper() in self._side_effect_methods:
            return f"method {method.upper()} is not idempotent"
        return None

    def _tags(self, headers: Mapping[str, str], tags: Mapping[str, str] | None, response_body: Any,
              counts: Counter[str]) -> dict[str, str]:
        prefix = self.config.tag_header_prefix.lower()
        found: dict[str, str] = {}
        if prefix:
            found.update({k[len(prefix):]: v for k, v in headers.items() if k.startswith(prefix) and len(k) > len(prefix)})
        if tags:
            found.update(tags)
        if isinstance(response_body, dict) and isinstance(response_body.get("system_fingerprint"), str):
            found.setdefault("system_fingerprint", response_body["system_fingerprint"])
        cleaned: dict[str, str] = {}
        for name, value in list(found.items())[:_MAX_TAGS]:
            name = str(name)[:_MAX_TAG_CHARS]
            if self.redactor.is_secret_field(name) or self.redactor.is_secret_header(name):
                counts["secret"] += 1
                cleaned[name] = "[REDACTED]"
            else:
                cleaned[name] = self.redactor.text(str(value)[:_MAX_TAG_CHARS], counts)
        return cleaned
