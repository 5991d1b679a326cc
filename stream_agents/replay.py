"""Replays one batch of production events to every challenger, concurrently, at most once per pair."""

from __future__ import annotations

import asyncio
import logging

from schemas.events import InferenceEvent, ShadowResult, ShadowStatus
from stream_agents.challenger_client import ChallengerClient
from stream_agents.claims import ClaimOutcome, ClaimStore

__all__ = ["ReplayStage"]

log = logging.getLogger(__name__)


class ReplayStage:
    def __init__(self, challengers: list[ChallengerClient], claims: ClaimStore, concurrency: int) -> None:
        self._challengers = challengers
        self._claims = claims
        self._slots = asyncio.Semaphore(concurrency)
        self.skipped_in_flight = 0

    async def replay(self, events: list[InferenceEvent]) -> list[ShadowResult]:
        """One result per (event, challenger), in order; pairs another worker holds are left out."""
        jobs = [self._one(event, challenger) for event in events for challenger in self._challengers]
        results = await asyncio.gather(*jobs)
        return [result for result in results if result is not None]

    async def _one(self, event: InferenceEvent, challenger: ChallengerClient) -> ShadowResult | None:
        config = challenger.config
        if not event.replayable:
            return ShadowResult(event=event, challenger=config.name, challenger_model=config.model,
                                is_control=config.control, status=ShadowStatus.INELIGIBLE,
                                error=event.not_replayable_reason or "not replayable", ts_called=event.ts_response)
        outcome, stored = await self._claims.claim(event.event_id, config.name)
        if outcome is ClaimOutcome.DONE:
            return stored
        if outcome is ClaimOutcome.IN_FLIGHT:
            self.skipped_in_flight += 1
            log.warning("event %s for %s is claimed but not answered (in flight, or its worker died): "
                        "not calling again", event.event_id, config.name)
            return None
        async with self._slots:
            result = await challenger.call(event)
        await self._store_result(result)
        return result

    async def _store_result(self, result: ShadowResult) -> None:
        # The call is paid for: keep trying to record it, or a retry of this batch would see the
        # pair as in flight and drop the answer.
        backoff = 0.2
        while True:
            try:
                await self._claims.complete(result)
                return
            except Exception as exc:  # Redis outage: retriable by nature
                log.error("cannot store the result of %s/%s in Redis (retry in %.1fs): %s",
                          result.event.event_id, result.challenger, backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
