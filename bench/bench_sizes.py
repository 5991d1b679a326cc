"""Bytes on the wire per mirrored exchange: the event, the replay result and the scored record.

    python bench/bench_sizes.py

The gateway bench's 1 KB chat request (with an email, masked) and a three-sentence answer, captured
by the real Mirror; then a ShadowResult and its ScoredRecord as the worker writes them to
shadow.results and shadow.scored, and as a claim stores the result in Redis. Inputs of docs/sizing.md.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_gateway import REQUEST  # noqa: E402
from producers.mirror import CaptureConfig, Mirror  # noqa: E402
from schemas.events import InferenceEvent, ShadowResult, ShadowStatus  # noqa: E402
from schemas.settings import ModelPrice  # noqa: E402
from stream_agents.scoring.record import score_result  # noqa: E402

ANSWER = "The customer was charged twice for the premium plan in October after downgrading. " * 3


class _Keep:
    def __init__(self) -> None:
        self.events: list[InferenceEvent] = []

    def publish(self, event: InferenceEvent) -> bool:
        self.events.append(event)
        return True


def main() -> None:
    sink = _Keep()
    answer = {"model": "gpt-4", "choices": [{"message": {"role": "assistant", "content": ANSWER},
                                             "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 200, "completion_tokens": 60}}
    Mirror(CaptureConfig(), sink).capture(json.loads(REQUEST), json.dumps(answer).encode(),
                                          route="/v1/chat/completions")
    event = sink.events[0]
    result = ShadowResult(event=event, challenger="c", challenger_model="c", status=ShadowStatus.OK,
                          response_text=ANSWER, latency_ms=100.0, ts_called=datetime.now(UTC))
    record = score_result(result, ModelPrice())
    print(f"event (shadow.requests): {len(event.model_dump_json().encode())} bytes")
    print(f"result (shadow.results, and the Redis claim's stored value): {len(result.model_dump_json().encode())} bytes")
    print(f"scored record (shadow.scored): {len(record.model_dump_json().encode())} bytes")


if __name__ == "__main__":
    main()
