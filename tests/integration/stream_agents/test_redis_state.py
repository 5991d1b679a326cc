"""Limiter, budgets, claims and registry against the session's real Redis (no worker process)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from schemas.events import CapturedResponse, InferenceEvent, NormalizedRequest, ShadowResult, ShadowStatus
from schemas.settings import ChallengerConfig
from stream_agents.claims import ClaimOutcome, ClaimStore, abandoned_result
from stream_agents.limits import AdmissionOutcome, RateLimiter, SpendLimits
from stream_agents.registry import ChallengerRegistry

pytestmark = pytest.mark.integration


def _run(stack_settings, body):
    async def go():
        async with aioredis.Redis.from_url(stack_settings.redis_url) as client:
            return await body(client, f"t{uuid.uuid4().hex[:8]}")
    return asyncio.run(go())


def test_four_limiters_share_one_schedule_of_exactly_r_per_second(stack_settings):
    rate, calls = 20.0, 80

    async def body(client, prefix):
        limiters = [RateLimiter(client, prefix) for _ in range(4)]  # four "workers"
        limits = SpendLimits(rate_rps=rate)
        admissions = await asyncio.gather(*(limiters[i % 4].admit("c", limits, None) for i in range(calls)))
        return sorted(a.wait_s for a in admissions)

    waits = _run(stack_settings, body)
    # Every call got a slot and the slots are spaced one interval apart: 80 calls span 79 intervals,
    # less the (small) time the 80 round trips themselves took.
    assert waits[0] == 0.0
    gaps = [b - a for a, b in zip(waits, waits[1:])]
    assert all(g <= 1 / rate + 1e-6 for g in gaps)
    assert waits[-1] > (calls - 1) / rate - 1.0
    assert sum(1 for g in gaps if g > 0.8 / rate) > calls * 0.8


def test_past_the_wait_budget_nothing_is_booked_and_a_burst_goes_at_once(stack_settings):
    async def body(client, prefix):
        limiter = RateLimiter(client, prefix)
        limits = SpendLimits(rate_rps=1.0, burst=3)
        first = [await limiter.admit("c", limits, max_wait_s=0.5) for _ in range(5)]
        return first

    admissions = _run(stack_settings, body)
    assert [a.outcome for a in admissions[:3]] == [AdmissionOutcome.ADMITTED] * 3
    assert all(a.wait_s == 0 for a in admissions[:3])
    assert [a.outcome for a in admissions[3:]] == [AdmissionOutcome.RATE_LIMITED] * 2


def test_retry_after_pushes_every_worker_back(stack_settings):
    async def body(client, prefix):
        limits = SpendLimits(rate_rps=100.0)
        await RateLimiter(client, prefix).penalize("c", 30.0)
        return await RateLimiter(client, prefix).admit("c", limits, max_wait_s=5.0)

    admission = _run(stack_settings, body)
    assert admission.outcome is AdmissionOutcome.RATE_LIMITED and admission.wait_s > 25


def test_budget_reserves_the_estimate_and_settles_the_real_cost(stack_settings):
    async def body(client, prefix):
        limiter = RateLimiter(client, prefix)
        own = SpendLimits(budget_usd=1.0, budget_period="hour")
        outcomes = [(await limiter.admit("c", own, None, estimate_usd=0.4)).outcome for _ in range(3)]
        await limiter.settle("c", own, reserved_usd=0.4, actual_usd=0.1)  # one call was cheaper
        after_settle = (await limiter.admit("c", own, None, estimate_usd=0.4)).outcome
        spent = await limiter.spent("c", own)
        shared = SpendLimits(shared_budget_usd=0.5)
        shared_outcomes = [(await limiter.admit(n, shared, None, estimate_usd=0.3)).outcome for n in ("a", "b")]
        return outcomes, after_settle, spent, shared_outcomes

    outcomes, after_settle, spent, shared_outcomes = _run(stack_settings, body)
    assert outcomes == [AdmissionOutcome.ADMITTED, AdmissionOutcome.ADMITTED, AdmissionOutcome.OVER_BUDGET]
    assert after_settle is AdmissionOutcome.ADMITTED
    assert abs(spent - 0.9) < 1e-9
    assert shared_outcomes == [AdmissionOutcome.ADMITTED, AdmissionOutcome.OVER_SHARED_BUDGET]


def _event(event_id: str) -> InferenceEvent:
    now = datetime.now(UTC)
    return InferenceEvent(event_id=event_id, route="/r", ts_request=now, ts_response=now, production_model="p",
                          request=NormalizedRequest(model="p"), response=CapturedResponse(status_code=200),
                          latency_ms=1, request_hash="h")


def test_a_claim_of_a_dead_worker_is_settled_once_and_never_handed_out_again(stack_settings):
    async def body(client, prefix):
        dead = ClaimStore(client, prefix, worker_id="dead", liveness_s=0.2)
        live = ClaimStore(client, prefix, worker_id="live", liveness_s=5)
        other = ClaimStore(client, prefix, worker_id="other", liveness_s=5)
        await dead.beat(); await live.beat(); await other.beat()
        first = await dead.claim("e1", "c")
        while_alive = await live.claim("e1", "c")
        await asyncio.sleep(0.4)  # the dead worker's liveness key expires
        orphaned = await live.claim("e1", "c")
        settled = await live.abandon("dead", abandoned_result(_event("e1"), "c", "m", False, "dead"))
        too_late = await other.abandon("dead", abandoned_result(_event("e1"), "c", "m", False, "dead"))
        final = await other.claim("e1", "c")
        # A normal pair: claimed, completed, then re-published on redelivery.
        assert (await live.claim("e2", "c"))[0] is ClaimOutcome.CLAIMED
        await live.complete(ShadowResult(event=_event("e2"), challenger="c", challenger_model="m",
                                         status=ShadowStatus.OK, response_text="x", ts_called=datetime.now(UTC)))
        redelivered = await other.claim("e2", "c")
        return first, while_alive, orphaned, settled, too_late, final, redelivered

    first, while_alive, orphaned, settled, too_late, final, redelivered = _run(stack_settings, body)
    assert first == (ClaimOutcome.CLAIMED, None)
    assert while_alive == (ClaimOutcome.IN_FLIGHT, "dead")
    assert orphaned == (ClaimOutcome.ORPHANED, "dead")
    assert settled is not None and too_late is None
    assert final[0] is ClaimOutcome.DONE and final[1].error.startswith("abandoned")
    assert redelivered[0] is ClaimOutcome.DONE and redelivered[1].response_text == "x"


def test_claims_made_together_share_one_round_trip_and_keep_their_own_outcome(stack_settings):
    async def body(client, prefix):
        store = ClaimStore(client, prefix, worker_id="w1")
        await store.beat()
        await store.complete(ShadowResult(event=_event("e0"), challenger="c", challenger_model="m",
                                          status=ShadowStatus.OK, response_text="stored", ts_called=datetime.now(UTC)))
        before = store._batcher.round_trips
        # 300 pairs at once, one of them answered already and one listed twice.
        ids = ["e0"] + [f"e{i}" for i in range(1, 300)] + ["e1"]
        outcomes = await asyncio.gather(*(store.claim(event_id, "c") for event_id in ids))
        return outcomes, store._batcher.round_trips - before

    outcomes, round_trips = _run(stack_settings, body)
    assert round_trips == 1
    assert outcomes[0][0] is ClaimOutcome.DONE and outcomes[0][1].response_text == "stored"
    assert all(o == (ClaimOutcome.CLAIMED, None) for o in outcomes[1:300])
    assert outcomes[300] == (ClaimOutcome.IN_FLIGHT, "w1")  # the same pair again, in the same pipeline


def test_a_batch_fails_as_a_whole_when_redis_is_unreachable():
    async def body():
        client = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)  # nothing listens
        store = ClaimStore(client, "t")
        outcomes = await asyncio.gather(*(store.claim(f"e{i}", "c") for i in range(5)), return_exceptions=True)
        await client.aclose()
        return outcomes

    outcomes = asyncio.run(body())
    assert len(outcomes) == 5 and all(isinstance(o, redis.exceptions.ConnectionError) for o in outcomes)


def test_registry_follows_configuration_and_run_time_changes(stack_settings):
    a = ChallengerConfig(name="a", base_url="http://a/v1", model="a", api_key="sk-secret")
    a_moved = a.model_copy(update={"base_url": "http://a2/v1"})
    b = ChallengerConfig(name="b", base_url="http://b/v1", model="b", rate_limit_rps=5)

    async def body(client, prefix):
        registry = ChallengerRegistry(client, prefix)
        seeded = await registry.seed([a])
        v1, first = await registry.load()
        unchanged = await registry.seed([a])  # a restart with the same SHADOW_CHALLENGERS changes nothing
        await registry.put(b)
        removed = await registry.remove("a")
        reseeded = await registry.seed([a_moved])  # a restart with an edited SHADOW_CHALLENGERS
        v3, last = await registry.load()
        return seeded, unchanged, v1, first, removed, reseeded, v3, last

    seeded, unchanged, v1, first, removed, reseeded, v3, last = _run(stack_settings, body)
    assert seeded and not unchanged and removed and reseeded
    assert [c.name for c in first] == ["a"] and first[0].api_key.get_secret_value() == "sk-secret"
    by_name = {c.name: c for c in last}
    assert sorted(by_name) == ["a", "b"]  # an edited entry is applied again, run-time additions are kept
    assert by_name["a"].base_url == "http://a2/v1" and by_name["b"].rate_limit_rps == 5
    assert v3 > v1


def test_run_time_removal_and_change_stick_until_the_configuration_changes(stack_settings):
    a = ChallengerConfig(name="a", base_url="http://a/v1", model="a")
    b = ChallengerConfig(name="b", base_url="http://b/v1", model="b")
    c = ChallengerConfig(name="c", base_url="http://c/v1", model="c")

    async def body(client, prefix):
        registry = ChallengerRegistry(client, prefix)
        await registry.seed([a, b])
        await registry.remove("a")  # removed at run time
        await registry.put(b.model_copy(update={"timeout_s": 3.0}))  # changed at run time
        version = await registry.version()
        again = [await registry.seed([b, a]) for _ in range(3)]  # restarts, API calls: same list, any order
        after_restarts = await registry.load()
        viewed = await registry.view([a, b])  # a reader: no write
        unchanged_version = await registry.version()
        edited = await registry.seed([a, b, c])  # the configuration changes: only the new entry is applied
        return version, again, after_restarts, viewed, unchanged_version, edited, await registry.load()

    version, again, (v2, after_restarts), viewed, unchanged_version, edited, (_, last) = _run(stack_settings, body)
    assert again == [False, False, False] and v2 == version == unchanged_version
    assert [(x.name, x.timeout_s) for x in after_restarts] == [("b", 3.0)]
    assert viewed == (v2, after_restarts)
    assert edited and [(x.name, x.timeout_s) for x in last] == [("b", 3.0), ("c", 30.0)]


def test_a_reader_sees_the_configuration_before_any_seed_without_writing(stack_settings):
    a = ChallengerConfig(name="a", base_url="http://a/v1", model="a")

    async def body(client, prefix):
        registry = ChallengerRegistry(client, prefix)
        await registry.put(ChallengerConfig(name="z", base_url="http://z/v1", model="z"))
        viewed = await registry.view([a])
        return viewed, await registry.load(), await client.exists(f"{prefix}:challengers:seeded")

    (_, viewed), (_, stored), seeded_key = _run(stack_settings, body)
    assert [x.name for x in viewed] == ["a", "z"] and [x.name for x in stored] == ["z"] and seeded_key == 0
