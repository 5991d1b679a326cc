"""Everything that writes to Kafka: the gateway, the publisher, capture and sampling."""

from producers.capture import capture_chat, new_event_id, normalize_chat_request, request_hash
from producers.gateway import create_gateway, openai_error
from producers.publisher import EventPublisher, PublisherCounters
from producers.sampling import is_sampled, sample_point

__all__ = [
    "EventPublisher",
    "PublisherCounters",
    "capture_chat",
    "create_gateway",
    "is_sampled",
    "new_event_id",
    "normalize_chat_request",
    "openai_error",
    "request_hash",
    "sample_point",
]
