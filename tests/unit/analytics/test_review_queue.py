"""The review queue's order, its random share, the blind order and the highlighted differences."""

from __future__ import annotations

from collections import Counter

from analytics.review_queue import REASONS, Candidate, build_queue, disagreement, highlight_pair, shown_first


def _pool() -> list[Candidate]:
    pool = [Candidate(event_id=f"flip{i}", challenger="c", similarity=0.5, judge_score=0.5, judge_flipped=True)
            for i in range(3)]
    pool += [Candidate(event_id="same-but-lost", challenger="c", similarity=0.95, judge_score=0.0),  # d = 0.95
             Candidate(event_id="tie-but-different", challenger="c", similarity=0.2, judge_score=0.5),  # d = 0.8
             Candidate(event_id="agreeing", challenger="c", similarity=0.3, judge_score=0.0)]  # d = 0.3: not a dispute
    pool += [Candidate(event_id="label", challenger="c", similarity=0.9, label_flip="reject->approve"),
             Candidate(event_id="refused", challenger="c", similarity=0.1, refusal_production=False,
                       refusal_challenger=True)]
    pool += [Candidate(event_id=f"rest{i}", challenger="c", similarity=0.4 + i / 100) for i in range(40)]
    return pool


def test_without_a_random_share_the_queue_follows_the_priorities():
    queue = build_queue(_pool(), limit=12, random_share=0.0, seed="amy")
    assert [q.candidate.event_id for q in queue][:8] == [
        "flip0", "flip1", "flip2", "same-but-lost", "tie-but-different", "label", "refused", "agreeing"]
    assert [q.reason for q in queue][:8] == ["judge_inconsistent"] * 3 + [
        "judge_vs_similarity", "judge_vs_similarity", "classifier_flip", "refusal", "divergent"]
    # The rest: least similar first.
    assert [q.candidate.event_id for q in queue][8:] == ["rest0", "rest1", "rest2", "rest3"]


def test_the_random_share_takes_its_slots_evenly_and_is_labelled():
    queue = build_queue(_pool(), limit=40, random_share=0.2, seed="amy")
    reasons = [q.reason for q in queue]
    assert reasons.count("random") == 8  # 20 % of 40
    assert [i for i, r in enumerate(reasons) if r == "random"] == [4, 9, 14, 19, 24, 29, 34, 39]
    assert len({(q.candidate.event_id, q.candidate.challenger) for q in queue}) == 40  # each pair once
    # The prioritised slots keep their order around the random ones.
    prioritised = [q for q in queue if q.reason != "random"]
    assert prioritised == sorted(prioritised, key=lambda q: list(REASONS).index(q.reason))


def test_random_draws_are_uniform_over_all_candidates():
    pool = _pool()
    counts: Counter[str] = Counter()
    for seed in range(3000):
        queue = build_queue(pool, limit=5, random_share=0.2, seed=str(seed))
        counts.update(q.candidate.event_id for q in queue if q.reason == "random")
    # One random slot in the first five, drawn from all 48 candidates, the prioritised ones included.
    assert set(counts) == {c.event_id for c in pool}
    assert max(counts.values()) < 2.2 * min(counts.values())
    # A reviewer's queue is stable; another reviewer's random draws differ.
    assert build_queue(pool, 20, 0.2, "amy") == build_queue(pool, 20, 0.2, "amy")
    assert build_queue(pool, 20, 0.2, "amy") != build_queue(pool, 20, 0.2, "bob")


def test_the_queue_never_holds_more_than_the_candidates():
    assert len(build_queue(_pool()[:3], limit=50, random_share=0.5, seed="x")) == 3
    assert build_queue([], limit=50, random_share=0.2, seed="x") == []


def test_disagreement_is_high_for_decisive_verdicts_on_similar_answers_and_ties_on_different_ones():
    assert disagreement(1.0, 1.0) == 1.0 and disagreement(0.0, 0.5) == 1.0
    assert disagreement(0.0, 0.0) == 0.0 and disagreement(1.0, 0.5) == 0.0
    assert disagreement(None, 1.0) is None and disagreement(0.5, None) is None


def test_the_blind_order_is_random_per_pair_and_reviewer_yet_stable():
    pairs = [(f"e{i}", "cheap") for i in range(2000)]
    amy = [shown_first("amy", e, c) for e, c in pairs]
    bob = [shown_first("bob", e, c) for e, c in pairs]
    assert 0.45 < amy.count("production") / len(amy) < 0.55  # balanced: no side is production by habit
    assert amy == [shown_first("amy", e, c) for e, c in pairs]  # stable for one reviewer
    differ = sum(a != b for a, b in zip(amy, bob)) / len(pairs)
    assert 0.45 < differ < 0.55  # independent between reviewers
    assert {shown_first("amy", "e1", c) for c in ("a", "b", "c", "d", "e", "f", "g", "h")} == {"production",
                                                                                                "challenger"}


def test_differences_are_marked_and_html_is_escaped():
    left, right = highlight_pair("The <b>cat</b> sat on the mat.", "The <b>dog</b> sat on the mat.")
    assert left == "The <mark>&lt;b&gt;cat&lt;/b&gt;</mark> sat on the mat."
    assert right == "The <mark>&lt;b&gt;dog&lt;/b&gt;</mark> sat on the mat."
    assert highlight_pair("same", "same") == ("same", "same")
