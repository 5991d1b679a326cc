"""Synthetic ScoredRecords with known distributions, written the way the sink writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from schemas.events import ScoredRecord, ShadowStatus
from stream_agents.sink import SCORE_COLUMNS, records_to_columns

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def make_records(app: str, challenger: str, n: int, *, seed: int, shift: float = 0.0, control: bool = False,
                 hours: float = 26.0, error_rate: float = 0.0, refusal_rate: float = 0.0, routes=("chat", "search"),
                 tenants=("t1", "t2"), cost: float = 0.001, scorer_version: str = "v1",
                 start: datetime = START) -> list[ScoredRecord]:
    """n events spread over `hours`; event i is the same prompt for every challenger (pairable).

    Event ids are unique per app, as real ones are (ULIDs): outcome feedback is keyed by event id
    alone, and two tests' feedback must not join each other's rows."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(12345)  # shared per-event difficulty: the same for every challenger
    difficulty = base.normal(0, 0.08, n)
    sims = np.clip(rng.beta(8, 2, n) + difficulty + shift, 0, 1)
    latency_prod = base.gamma(4, 30, n)
    latency_ch = rng.gamma(4, 25, n)
    records = []
    for i in range(n):
        status = ShadowStatus.ERROR if rng.random() < error_rate else ShadowStatus.OK
        ok = status == ShadowStatus.OK
        refused = bool(rng.random() < refusal_rate)
        records.append(ScoredRecord(
            event_id=f"{app}:e{i:07d}", challenger=challenger, challenger_model=challenger, is_control=control, app=app,
            route=routes[i % len(routes)], tenant=tenants[(i // 3) % len(tenants)], production_model="prod",
            production_model_rev="r1", request_hash=f"h{i}", ts_request=start + timedelta(hours=hours * i / n),
            ts_scored=start + timedelta(hours=hours * i / n, seconds=2), status=status,
            error="" if ok else "boom", similarity=float(sims[i]) if ok else None, similarity_method="lexical",
            exact_match=bool(sims[i] > 0.99) if ok else None, refusal_production=False if ok else None,
            refusal_challenger=refused if ok else None, production_latency_ms=float(latency_prod[i]),
            challenger_latency_ms=float(latency_ch[i]) if ok else None,
            latency_delta_ms=float(latency_ch[i] - latency_prod[i]) if ok else None,
            latency_ratio=float(latency_ch[i] / latency_prod[i]) if ok else None,
            production_prompt_tokens=50, production_completion_tokens=100, challenger_prompt_tokens=50,
            challenger_completion_tokens=int(80 + i % 40), production_cost_usd=0.002,
            challenger_cost_usd=cost if ok else 0.0, cost_delta_usd=(cost if ok else 0.0) - 0.002,
            scorer_version=scorer_version,
        ))
    return records


def insert(client, records: list[ScoredRecord]) -> None:
    client.insert("shadow_scores", records_to_columns(records), column_names=SCORE_COLUMNS, column_oriented=True)


def with_judgments(records: list[ScoredRecord], win_rate: float, *, seed: int,
                   judge_version: str = "pairwise-1:sim") -> list[ScoredRecord]:
    """The records with a pairwise Judgment each: a win (1) with probability `win_rate`, else a loss (0)."""
    from schemas.events import Judgment

    rng = np.random.default_rng(seed)
    out = []
    for r in records:
        if r.status != ShadowStatus.OK:
            out.append(r)
            continue
        judgment = Judgment(judge_version=judge_version, judge_model="sim", status="judged",
                            score=float(rng.random() < win_rate), length_ratio=1.1, cost_usd=0.0001,
                            ts_judged=r.ts_scored)
        out.append(r.model_copy(update={"judgment": judgment}))
    return out


def insert_judgments(client, records: list[ScoredRecord]) -> None:
    from stream_agents.sink import JUDGMENT_COLUMNS, judgments_to_columns

    client.insert("shadow_judgments", judgments_to_columns(records), column_names=JUDGMENT_COLUMNS,
                  column_oriented=True)
