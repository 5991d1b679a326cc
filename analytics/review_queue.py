"""The review queue: which pairs are worth a person's time, in what order, shown how.

Order (each pair once; the reason travels with the rating as `queue_reason`):
  1. judge_inconsistent   the pairwise judge's verdict flipped with the order of the answers;
  2. judge_vs_similarity  the judge and similarity disagree most: a decisive verdict on near-identical
                          answers, or a tie between very different ones (disagreement ≥ 0.5, largest first);
  3. classifier_flip      the label read from the answers differs (classifier and JSON models);
  4. refusal              one side refused and the other answered;
  5. divergent            everything else, least similar first;
and a random share (SHADOW_REVIEW_RANDOM_SHARE, default 20 %) of the slots, spread evenly through
the queue, drawn uniformly from every candidate: 'random', so the calibration sample stays unbiased.

Blind order: which answer a reviewer sees on the left is a hash of (reviewer, event, challenger):
random across pairs and reviewers, stable for one reviewer (a reload shows the same page).
"""

from __future__ import annotations

import difflib
import hashlib
import random
import re
from collections.abc import Sequence
from html import escape
from typing import Literal

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.judgments import latest_judge_version
from analytics.scope import latest_scorer_version
from schemas.clickhouse import ANSWERS_TABLE, FEEDBACK_TABLE, JUDGMENTS_TABLE, SCORES_TABLE

__all__ = ["Candidate", "QueueItem", "REASONS", "build_queue", "disagreement", "shown_first", "highlight_pair",
           "load_candidates", "load_texts", "Filters"]

Reason = Literal["judge_inconsistent", "judge_vs_similarity", "classifier_flip", "refusal", "divergent", "random"]
REASONS: dict[str, str] = {
    "judge_inconsistent": "the judge's verdict flipped with the order of the answers",
    "judge_vs_similarity": "the judge and similarity disagree",
    "classifier_flip": "the label differs between the answers",
    "refusal": "one side refused",
    "divergent": "least similar of the rest",
    "random": "drawn at random (keeps the calibration sample unbiased)",
}
_MAX_CANDIDATES = 5000


class Candidate(BaseModel):
    event_id: str
    challenger: str
    route: str = ""
    tenant: str = ""
    similarity: float | None = None
    judge_score: float | None = None  # the challenger's points from the pairwise judge, if judged
    judge_flipped: bool = False
    label_flip: str = ""
    refusal_production: bool | None = None
    refusal_challenger: bool | None = None


class QueueItem(BaseModel):
    candidate: Candidate
    reason: Reason


class Filters(BaseModel):
    challenger: str = ""
    route: str = ""
    tenant: str = ""


def disagreement(similarity: float | None, judge_score: float | None) -> float | None:
    """How far the judge and similarity disagree, 0-1: decisiveness × sameness + indecision × difference.

    A judge sure of a winner (score 0 or 1) between near-identical answers, or calling a tie between
    very different ones, is what a person should look at."""
    if similarity is None or judge_score is None:
        return None
    decisive = abs(2 * judge_score - 1)
    return decisive * similarity + (1 - decisive) * (1 - similarity)


def _priority(c: Candidate) -> tuple[int, float]:
    if c.judge_flipped:
        return 0, 0.0
    d = disagreement(c.similarity, c.judge_score)
    if d is not None and d >= 0.5:
        return 1, -d
    if c.label_flip:
        return 2, 0.0
    if c.refusal_challenger is not None and c.refusal_production is not None and \
            c.refusal_challenger != c.refusal_production:
        return 3, 0.0
    return 4, c.similarity if c.similarity is not None else 2.0


_REASON_OF = {0: "judge_inconsistent", 1: "judge_vs_similarity", 2: "classifier_flip", 3: "refusal", 4: "divergent"}


def build_queue(candidates: Sequence[Candidate], limit: int, random_share: float, seed: str) -> list[QueueItem]:
    """The first `limit` items: prioritised pairs, with a share of the slots drawn at random.

    Slot i is random when ⌊(i+1)·share⌋ > ⌊i·share⌋, so any prefix holds the share (rounded down).
    The random pairs are drawn first, uniformly over every candidate (seeded: a reviewer's queue is
    stable), and the prioritised slots take the rest: the random sample owes nothing to the priorities."""
    size = min(limit, len(candidates))
    random_slots = [i for i in range(size) if int((i + 1) * random_share) > int(i * random_share)]
    drawn = random.Random(seed).sample(range(len(candidates)), len(random_slots))
    excluded = set(drawn)
    ranked = iter(sorted((i for i in range(len(candidates)) if i not in excluded),
                         key=lambda i: (*_priority(candidates[i]), candidates[i].event_id, candidates[i].challenger)))
    draws = iter(drawn)
    slots = set(random_slots)
    queue: list[QueueItem] = []
    for i in range(size):
        if i in slots:
            queue.append(QueueItem(candidate=candidates[next(draws)], reason="random"))
        else:
            pick = next(ranked)
            queue.append(QueueItem(candidate=candidates[pick], reason=_REASON_OF[_priority(candidates[pick])[0]]))
    return queue


def shown_first(reviewer: str, event_id: str, challenger: str) -> Literal["production", "challenger"]:
    """Which answer this reviewer sees on the left: a hash, so random per pair and reviewer yet stable."""
    digest = hashlib.sha256(f"{reviewer}\x00{event_id}\x00{challenger}".encode()).digest()
    return "production" if digest[0] & 1 else "challenger"


_TOKEN = re.compile(r"\s+|[^\s]+")


def highlight_pair(left: str, right: str) -> tuple[str, str]:
    """Both texts as escaped HTML, the words that differ from the other side in <mark>."""
    a, b = _TOKEN.findall(left), _TOKEN.findall(right)
    out_a: list[str] = []
    out_b: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        chunk_a, chunk_b = escape("".join(a[i1:i2])), escape("".join(b[j1:j2]))
        if op == "equal":
            out_a.append(chunk_a)
            out_b.append(chunk_b)
            continue
        if chunk_a.strip():
            out_a.append(f"<mark>{chunk_a}</mark>")
        else:
            out_a.append(chunk_a)
        if chunk_b.strip():
            out_b.append(f"<mark>{chunk_b}</mark>")
        else:
            out_b.append(chunk_b)
    return "".join(out_a), "".join(out_b)


def load_candidates(client: Client, app: str, reviewer: str, filters: Filters) -> tuple[list[Candidate], int]:
    """(pairs with stored answers that `reviewer` has not rated yet, pairs `reviewer` has rated) for `app`.

    At most 5,000 candidates, a pseudo-random sample by hash when there are more."""
    scorer_version = latest_scorer_version(client, app)
    judge_version = latest_judge_version(client, app)
    terms = ["s.app = {app:String}", "s.scorer_version = {scorer_version:String}", "s.status = 'ok'",
             "NOT s.is_control"]
    terms += [f"s.{name} = {{{name}:String}}" for name in ("challenger", "route", "tenant") if getattr(filters, name)]
    params = {"app": app, "scorer_version": scorer_version, "judge_version": judge_version, "reviewer": reviewer,
              **filters.model_dump()}
    rated = f"""(SELECT event_id, subject FROM {FEEDBACK_TABLE} FINAL
                 WHERE kind = 'preference' AND reviewer = {{reviewer:String}})"""
    sql = f"""
        SELECT s.event_id, s.challenger, s.route, s.tenant, s.similarity, j.score, j.flipped, j.judged,
               s.label_flip, s.refusal_production, s.refusal_challenger
        FROM {SCORES_TABLE} AS s FINAL
        INNER JOIN (SELECT challenger, event_id FROM {ANSWERS_TABLE} FINAL WHERE app = {{app:String}}) AS a
            ON a.challenger = s.challenger AND a.event_id = s.event_id
        LEFT JOIN (SELECT challenger, event_id, score, flipped, true AS judged FROM {JUDGMENTS_TABLE} FINAL
                   WHERE app = {{app:String}} AND judge_version = {{judge_version:String}}
                     AND status = 'judged' AND score IS NOT NULL) AS j
            ON j.challenger = s.challenger AND j.event_id = s.event_id
        WHERE {' AND '.join(terms)} AND (s.event_id, s.challenger) NOT IN {rated}
        ORDER BY cityHash64(s.event_id, s.challenger) LIMIT {_MAX_CANDIDATES}"""
    rows = client.query(sql, parameters=params, settings={"join_use_nulls": 0}).result_rows
    candidates = [Candidate(event_id=r[0], challenger=r[1], route=r[2], tenant=r[3], similarity=r[4],
                            judge_score=float(r[5]) if r[7] else None, judge_flipped=bool(r[6]) if r[7] else False,
                            label_flip=r[8], refusal_production=r[9], refusal_challenger=r[10]) for r in rows]
    done = client.command(  # feedback has no app column: the app's pairs are those with stored answers
        f"SELECT count() FROM {rated} WHERE (event_id, subject) IN (SELECT event_id, challenger "
        f"FROM {ANSWERS_TABLE} WHERE app = {{app:String}})", parameters={"reviewer": reviewer, "app": app})
    return candidates, int(done)


def load_texts(client: Client, app: str,
               pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(event_id, challenger) -> (request, production answer, challenger answer) from shadow_answers."""
    if not pairs:
        return {}
    rows = client.query(
        f"SELECT event_id, challenger, request, production_answer, challenger_answer FROM {ANSWERS_TABLE} FINAL "
        "WHERE app = {app:String} AND (event_id, challenger) IN {pairs:Array(Tuple(String, String))}",
        parameters={"app": app, "pairs": [tuple(p) for p in pairs]}).result_rows
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def filter_values(client: Client, app: str) -> dict[str, list[str]]:
    """The challengers, routes and tenants with stored answers: the page's filter choices."""
    row = client.query(f"SELECT groupUniqArray(challenger), groupUniqArray(route), groupUniqArray(tenant) "
                       f"FROM {ANSWERS_TABLE} WHERE app = {{app:String}}", parameters={"app": app}).result_rows[0]
    return {"challenger": sorted(row[0]), "route": sorted(row[1]), "tenant": sorted(t for t in row[2] if t)}
