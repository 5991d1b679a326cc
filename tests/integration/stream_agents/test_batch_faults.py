"""No exception may leave an agent's batch with the batch unprocessed: Faust would ack it (DESIGN.md).

On the real stack: a ~1 MB valid-JSON non-event among 40 events of one partition (the reported
crash), and a failure injected once at each step of each agent's body (replay, scoring, sink).
Either way every valid event is scored exactly once (one row, one challenger call) and only the
invalid message reaches shadow.dlq.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from infra.kafka_clients import ensure_topics
from schemas.settings import Settings
from shadow_optic.child_env import settings_env
from shadow_optic.stack.processes import ManagedProcess, start_process
from stream_agents.dead_letters import read_letters, redrive_letters
from tests.integration.conftest import REPO_ROOT, ProcessGroup, challenger, http_json, wait_for_rows
from tests.integration.stream_agents.helpers import make_event, rows

pytestmark = pytest.mark.integration

N = 40


def _produce_one_partition(settings: Settings, values: list[tuple[bytes, bytes]]) -> None:
    """Everything to partition 0, in order, as one producer writes it (the reported set-up)."""
    ensure_topics(settings.kafka_bootstrap, settings.topics.all(), settings.topic_partitions)
    # Idempotence keeps the order on retries (a fresh topic's first batch may be retried).
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "message.max.bytes": 2 * 1024 * 1024,
                         "enable.idempotence": True})
    for key, value in values:
        producer.produce(settings.topics.requests, key=key, value=value, partition=0)
    assert producer.flush(30) == 0


def _start_worker(processes: ProcessGroup, settings: Settings, faults: list[dict], fired: Path) -> ManagedProcess:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    argv = [sys.executable, "-m", "tests.integration.stream_agents.fault_worker", json.dumps(faults), str(fired)]
    process = start_process("fault-worker", argv, processes.log_dir / "fault-worker.log",
                            marker="fault_worker", env=env, cwd=REPO_ROOT)
    processes.processes.append(process)
    return process


def _scored_once(clickhouse, settings: Settings, events, model_health: str, worker: ManagedProcess) -> None:
    assert wait_for_rows(clickhouse, settings.app_name, len(events), timeout_s=150, process=worker,
                         settle_s=2.0) == len(events)
    assert sorted(r[0] for r in rows(clickhouse, settings.app_name)) == sorted(e.event_id for e in events)
    model = http_json(model_health)
    assert model["repeated_event_ids"] == 0 and model["requests"] == len(events)  # each called exactly once
    assert worker.alive(), worker.log_tail(40)


def test_a_1mb_non_event_among_40_events_is_dead_lettered_truncated_and_all_40_are_scored(
        pipeline_settings, processes, clickhouse, tmp_path):
    url, _ = processes.sim_model(pipeline_settings, "davinci")
    settings = pipeline_settings.model_copy(update={"challengers": [challenger("davinci", url)],
                                                    "replay_batch_size": 64})
    app = settings.app_name
    events = [make_event(f"big-{i:03d}-{app}", app, f"prompt {i}") for i in range(N)]
    # Valid JSON, not an event, under the broker's ~1 MiB limit and SHADOW_MAX_EVENT_BYTES: whole in
    # base64 (1.33 MB) it cannot be a dead letter.
    poison = json.dumps({"padding": "x" * 999_000}).encode()
    values = [(e.event_id.encode(), e.model_dump_json().encode()) for e in events]
    _produce_one_partition(settings, values[:20] + [(b"poison", poison)] + values[20:])
    worker = _start_worker(processes, settings, [], tmp_path / "fired")

    _scored_once(clickhouse, settings, events, url.removesuffix("/v1") + "/healthz", worker)
    letters = read_letters(settings)
    assert len(letters) == 1, [item.letter.reason for item in letters]
    letter = letters[0].letter
    assert letter.stage == "replay" and "not a valid InferenceEvent" in letter.reason
    assert letter.truncated and letter.value_bytes == len(poison)
    assert letter.value_sha256 == hashlib.sha256(poison).hexdigest()
    assert (letter.topic, letter.partition, letter.offset) == (settings.topics.requests, 0, 20)
    assert poison.startswith(letter.original_value())
    # redrive finds the original at its origin (sha256 checked), and leaves it out: still not an event.
    report = redrive_letters(settings, dry_run=True)
    assert (report.fetched, report.skipped_invalid, report.redriven) == (1, 1, 0)


# One failure per step of each agent's body, at different calls so that they strike different
# batches; "after" = the step's side effects happened (calls paid, rows inserted); a failed delivery
# is reported after the message was in fact delivered.
REPLAY_FAULTS = [
    {"target": "decode:InferenceEvent", "call": 5},
    {"target": "replay", "call": 2, "when": "after"},
    {"target": "score_batch", "call": 3},
    {"target": "send:results", "call": 9},
    {"target": "send:scored", "call": 14},
    {"target": "delivery:scored", "call": 24},
    {"target": "send:dlq", "call": 1},
]
SCORING_FAULTS = [
    {"target": "decode:ShadowResult", "call": 5},
    {"target": "score_batch", "call": 2, "when": "after"},
    {"target": "send:scored", "call": 9},
    {"target": "delivery:scored", "call": 17},
]
SINK_FAULTS = [
    {"target": "decode:ScoredRecord", "call": 5},
    {"target": "sink_write", "call": 2},
    {"target": "sink_write", "call": 4, "when": "after"},
]


@pytest.mark.parametrize("agent, faults", [("replay", REPLAY_FAULTS), ("scoring", SCORING_FAULTS),
                                           ("sink", SINK_FAULTS)])
def test_a_failure_at_any_step_of_any_agent_loses_no_event_and_scores_each_once(
        agent, faults, pipeline_settings, processes, clickhouse, tmp_path):
    url, _ = processes.sim_model(pipeline_settings, "davinci")
    settings = pipeline_settings.model_copy(update={
        "challengers": [challenger("davinci", url)], "replay_batch_size": 8, "sink_batch_size": 8,
        # The scoring agent scores only what the replay agent did not: make it do all of it.
        "score_in_replay": agent != "scoring"})
    app = settings.app_name
    events = [make_event(f"fault-{i:03d}-{app}", app, f"prompt {i}") for i in range(N)]
    values = [(e.event_id.encode(), e.model_dump_json().encode()) for e in events]
    _produce_one_partition(settings, values[:10] + [(b"bad", b"{not json")] + values[10:])
    fired = tmp_path / "fired"
    worker = _start_worker(processes, settings, faults, fired)

    _scored_once(clickhouse, settings, events, url.removesuffix("/v1") + "/healthz", worker)
    fired_targets = [line.split("@")[0] for line in fired.read_text().splitlines()]
    assert sorted(fired_targets) == sorted(f["target"] for f in faults), f"a fault never fired: {fired_targets}"
    # Only the malformed message is a dead letter; no valid event was given up on.
    letters = read_letters(settings)
    assert [(item.letter.offset, item.letter.stage) for item in letters] == [(10, "replay")], \
        [item.letter.reason for item in letters]
