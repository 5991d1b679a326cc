"""Backfill replay on the real stack: a time range is scored exactly once, also across an interruption."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from confluent_kafka import Producer

from stream_agents.backfill import BackfillPlan

from infra.kafka_clients import ensure_topics
from schemas.events import CapturedResponse, ChatMessage, InferenceEvent, NormalizedRequest
from shadow_optic.child_env import settings_env
from shadow_optic.stack.processes import wait_until
from tests.integration.conftest import DATA_DIR, REPO_ROOT, challenger, http_json, wait_for_rows

pytestmark = pytest.mark.integration
PAIRS = DATA_DIR / "paired_responses.jsonl"
PHASES = {"before": 10, "middle": 24, "after": 10}


def _prompts(n: int) -> list[dict]:
    with open(PAIRS, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle][:n]


def _event(event_id: str, prompt: str, answer: str, app: str, ts: datetime) -> InferenceEvent:
    return InferenceEvent(
        event_id=event_id, app=app, route="/v1/chat/completions", ts_request=ts - timedelta(milliseconds=80),
        ts_response=ts, production_model="gpt-4",
        request=NormalizedRequest(model="gpt-4", messages=[ChatMessage(role="user", content=prompt)]),
        response=CapturedResponse(status_code=200, text=answer), latency_ms=80.0, request_hash=uuid.uuid4().hex)


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def _replay(settings, *args: str) -> subprocess.Popen:
    env = settings_env(settings)
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.Popen([sys.executable, "-m", "shadow_optic", "replay", *args, "--json", "--no-progress"],
                            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, dict]:
    out, err = proc.communicate(timeout=120)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, f"no report (exit {proc.returncode}):\n{out}\n{err[-3000:]}"
    return proc.returncode, json.loads(lines[-1])


def _ids(clickhouse, app: str, challenger_name: str) -> list[str]:
    rows = clickhouse.query("SELECT event_id FROM shadow_scores FINAL WHERE app = {a:String} AND challenger = {c:String}",
                            parameters={"a": app, "c": challenger_name}).result_rows
    return [r[0] for r in rows]


def test_a_time_range_is_scored_exactly_once_across_interruption_resume_and_rerun(
        pipeline_settings, processes, clickhouse):
    pairs = _prompts(sum(PHASES.values()))
    answers = str(PAIRS)
    old_url, _ = processes.sim_model(pipeline_settings, "old", "--answers", answers, "--field", "challenger_response")
    # Slow enough that the interruption lands mid-run (a batch of 4 at concurrency 2 takes ≥ 0.6 s).
    new_url, _ = processes.sim_model(pipeline_settings, "new", "--answers", answers, "--field",
                                     "challenger_response", "--latency-ms", "300")
    newer_url, _ = processes.sim_model(pipeline_settings, "newer", "--answers", answers, "--field",
                                       "production_response")
    worker_settings = pipeline_settings.model_copy(update={"challengers": [challenger("old", old_url)]})
    replay_settings = pipeline_settings.model_copy(update={
        "challengers": [challenger("old", old_url), challenger("new", new_url), challenger("newer", newer_url)],
        "backfill_concurrency": 2, "backfill_batch_size": 4, "backfill_qps": 1000.0})
    app, topic = pipeline_settings.app_name, pipeline_settings.topics.requests
    ensure_topics(pipeline_settings.kafka_bootstrap, pipeline_settings.topics.all(), pipeline_settings.topic_partitions)
    worker = processes.start("worker", worker_settings, "worker")

    # Three phases with explicit record timestamps; the backfill window is the middle one.
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    offsets = {"before": 0, "middle": 20, "after": 60}
    producer = Producer({"bootstrap.servers": pipeline_settings.kafka_bootstrap})
    ids: dict[str, list[str]] = {}
    prompts = iter(pairs)
    for phase, count in PHASES.items():
        ids[phase] = []
        for i in range(count):
            ts = base + timedelta(seconds=offsets[phase] + i)
            pair = next(prompts)
            event = _event(f"{phase}-{i:03d}-{app}", pair["prompt"], pair["production_response"], app, ts)
            producer.produce(topic, key=event.event_id.encode(), value=event.model_dump_json().encode(),
                             timestamp=int(ts.timestamp() * 1000))
            ids[phase].append(event.event_id)
    assert producer.flush(30) == 0
    total = sum(PHASES.values())
    assert wait_for_rows(clickhouse, app, total, process=worker) == total  # the live challenger saw them all

    ts_from, ts_to = base + timedelta(seconds=15), base + timedelta(seconds=50)
    window = ["--from", _iso(ts_from), "--to", _iso(ts_to)]
    job = BackfillPlan(challenger="new", ts_from=ts_from, ts_to=ts_to).job_id(topic)
    checkpoint_key = f"{pipeline_settings.topic_prefix}shadow:backfill:{job}"
    store = redis.Redis.from_url(pipeline_settings.redis_url)

    def progress() -> int:
        raw = store.get(checkpoint_key)
        return 0 if raw is None else sum(json.loads(raw)["next"].values())

    # 1. Interrupted: SIGTERM once the first batch is checkpointed.
    first = _replay(replay_settings, "--challenger", "new", *window)
    wait_until(lambda: progress() > 0 or first.poll() is not None, 60, "the first checkpoint")
    first.send_signal(signal.SIGTERM)
    code, report = _finish(first)
    assert (code, report["stopped_reason"], report["finished"]) == (130, "interrupted", False), report
    assert report["selected"] == PHASES["middle"] and 0 < report["published"] < PHASES["middle"]
    assert report["read"] >= PHASES["middle"]

    # 2. Resumed: only what the checkpoint does not cover is read as to-do.
    code, resumed = _finish(_replay(replay_settings, "--challenger", "new", *window, "--resume"))
    assert code == 0 and resumed["finished"], resumed
    assert resumed["already_done_by_checkpoint"] == report["published"]
    assert resumed["already_done_by_checkpoint"] + resumed["published"] == PHASES["middle"]
    assert report["called"] + resumed["called"] == PHASES["middle"]

    # 3. Run again from scratch: the claims answer, nobody is called twice.
    code, again = _finish(_replay(replay_settings, "--challenger", "new", *window))
    assert code == 0 and again["called"] == 0 and again["reused_stored"] == PHASES["middle"], again

    assert wait_for_rows(clickhouse, app, total + PHASES["middle"], process=worker, settle_s=2.0) == \
        total + PHASES["middle"]
    assert sorted(_ids(clickhouse, app, "new")) == sorted(ids["middle"])
    assert http_json(new_url.removesuffix("/v1") + "/healthz")["requests"] == PHASES["middle"]

    # 4. Pinned: a later challenger over a wider window gets exactly the events "new" saw.
    wide = ["--from", _iso(base - timedelta(seconds=10)), "--to", _iso(base + timedelta(seconds=100))]
    code, pinned = _finish(_replay(replay_settings, "--challenger", "newer", *wide, "--pinned-to", "new"))
    assert code == 0 and pinned["selected"] == PHASES["middle"], pinned
    assert pinned["pinned_excluded"] == PHASES["before"] + PHASES["after"]

    # 5. The same stretch by explicit offsets (the ranges the time window resolved to), unlisted challenger.
    spec = ",".join(f"{r['partition']}:{r['start']}-{r['end']}" for r in report["ranges"])
    code, by_offsets = _finish(_replay(replay_settings, "--challenger", "newer-2", "--base-url", newer_url,
                                       "--model", "newer", "--offsets", spec))
    assert code == 0 and by_offsets["selected"] == PHASES["middle"] and by_offsets["called"] == PHASES["middle"]

    expected = total + 3 * PHASES["middle"]
    assert wait_for_rows(clickhouse, app, expected, process=worker, settle_s=2.0) == expected
    assert sorted(_ids(clickhouse, app, "newer")) == sorted(ids["middle"])
    assert sorted(_ids(clickhouse, app, "newer-2")) == sorted(ids["middle"])
    assert http_json(newer_url.removesuffix("/v1") + "/healthz")["requests"] == 2 * PHASES["middle"]
    store.close()
