import random

from stream_agents.allocation import Evidence, fixed_pick, thompson_pick, undecided_share


def test_thompson_spends_on_the_undecided_challenger():
    evidence = {
        "clearly-good": Evidence(passes=950, fails=50),    # decided: passes
        "clearly-bad": Evidence(passes=50, fails=950),     # decided: fails
        "open-question": Evidence(passes=8, fails=2),      # little evidence near the 0.8 target
    }
    shares = undecided_share(list(evidence), evidence, target=0.8, rng=random.Random(1))
    assert shares["open-question"] > 0.7
    assert shares["clearly-bad"] < 0.01
    assert abs(sum(shares.values()) - 1.0) < 1e-9


def test_without_evidence_the_split_is_roughly_even():
    names = ["a", "b", "c"]
    shares = undecided_share(names, {}, target=0.8, rng=random.Random(2), rounds=6000)
    assert all(0.25 < share < 0.42 for share in shares.values())


def test_thompson_pick_returns_k_distinct_names_and_all_when_k_is_large():
    rng = random.Random(3)
    picked = thompson_pick(["a", "b", "c", "d"], {}, 0.8, 2, rng)
    assert len(picked) == 2 and len(set(picked)) == 2
    assert sorted(thompson_pick(["a", "b"], {}, 0.8, 5, rng)) == ["a", "b"]


def test_fixed_split_follows_the_shares():
    rng = random.Random(4)
    counts = {"a": 0, "b": 0}
    for _ in range(4000):
        counts[fixed_pick(["a", "b"], {"a": 3.0, "b": 1.0}, 1, rng)[0]] += 1
    assert 0.70 < counts["a"] / 4000 < 0.80


def test_fixed_split_never_picks_a_zero_share():
    rng = random.Random(5)
    assert all(fixed_pick(["a", "b"], {"a": 0.0, "b": 1.0}, 1, rng) == ["b"] for _ in range(200))
