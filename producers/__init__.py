"""Everything that writes to Kafka: the gateway, the publisher, capture, redaction and sampling."""

from producers.capture import (
    capture_chat,
    kind_of_route,
    new_event_id,
    normalize_chat_request,
    normalize_request,
    parse_response,
    request_hash,
)
from producers.champion import ChampionFollower, ChampionRoute
from producers.gateway import create_gateway, openai_error
from producers.middleware import ShadowCaptureMiddleware, default_route_filter
from producers.mirror import CaptureConfig, CaptureOutcome, CaptureResult, Mirror
from producers.publisher import EventPublisher, PublisherCounters
from producers.redaction import Redactor, iban_valid, luhn_valid
from producers.sampling import SamplingPolicy, is_sampled, sample_point
from producers.streaming import StreamCapture

__all__ = [
    "CaptureConfig",
    "CaptureOutcome",
    "CaptureResult",
    "ChampionFollower",
    "ChampionRoute",
    "EventPublisher",
    "Mirror",
    "PublisherCounters",
    "Redactor",
    "SamplingPolicy",
    "ShadowCaptureMiddleware",
    "StreamCapture",
    "capture_chat",
    "create_gateway",
    "default_route_filter",
    "iban_valid",
    "is_sampled",
    "kind_of_route",
    "luhn_valid",
    "new_event_id",
    "normalize_chat_request",
    "normalize_request",
    "openai_error",
    "parse_response",
    "request_hash",
    "sample_point",
]
