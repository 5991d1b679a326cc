"""The quality question under a simulated pairwise judge: A/A error, power, position bias, judge spend.

A simulated judge answers each judged pair twice, the challenger once as A and once as B, and the two
verdicts are combined by the real `combine_orders` (stream_agents/scoring/pairwise.py). The
anytime-valid win-rate test (analytics/win_rate.py) is checked after EVERY judged pair, as a monitor
that looks continuously would; it is evaluated vectorised over all runs and all n at once with the
same formulas, and checked against `win_rate_test` itself at a few points (printed).

The judge:
  - content: on each pair the challenger's answer is better, worse, or equal (a tie, share TIE_SHARE);
  - noise: each of the two calls answers at random (A, B or tie, uniformly) with probability NOISE;
  - position bias: on BIAS of the pairs it answers A in both orders regardless of content, so the
    verdict follows the slot (flipped: a tie by `combine_orders`).
"True win rate" w is the expected score (win 1, tie 0.5, loss 0) of one call of the judge WITHOUT
position bias (noise included): w = P(prefers challenger) + ½·P(tie), the quantity the test estimates.

Prints, over `--runs` seeded runs of up to `--max-pairs` judged pairs each:
  1. A/A (w 0.5): share of runs ever declared worse / better (targets ≤ 1 %), ending outcomes;
  2. power at w 0.40 (worse reached) and 0.60 (better or not_worse reached), target ≥ 95 %, and the
     judged pairs needed (median, p95);
  3. position bias: one-order (challenger always A) vs both-orders estimates, flip rate, shrinkage;
  4. judge spend per decision, two calls per pair, at stated token counts and prices.

    python3 bench/bench_quality.py [--runs 2000] [--max-pairs 3000] [--seed 1] [--alt-tau 0.03] [--long-pairs 12000]
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field

import numpy as np

from analytics.sequential import MIN_N
from analytics.win_rate import win_rate_test
from schemas.settings import ModelPrice, Settings
from stream_agents.scoring.pairwise import combine_orders

TIE_SHARE = 0.20  # pairs whose two answers are equally good (content ties)
NOISE = 0.15  # per call: a random verdict (A, B, tie uniformly) instead of the content's
BIAS = 0.30  # per pair: the judge answers A in both orders, whatever the content

VERDICTS = ("A", "B", "tie")  # codes 0, 1, 2
A, B, TIE = 0, 1, 2
# Lookup tables built from the real combine_orders: [verdict with challenger as A, verdict as B].
SCORE = np.array([[combine_orders(x, y).score for y in VERDICTS] for x in VERDICTS]).ravel()
FLIPPED = np.array([[combine_orders(x, y).flipped for y in VERDICTS] for x in VERDICTS]).ravel()
ONE_ORDER = np.array([1.0, 0.0, 0.5])  # challenger's points from the challenger-as-A call alone

UNDECIDED, BETTER, NOT_WORSE, WORSE = 0, 1, 2, 3
NAMES = {UNDECIDED: "undecided", BETTER: "better", NOT_WORSE: "not_worse", WORSE: "worse"}

PROMPT_TOKENS, COMPLETION_TOKENS = 1000, 10  # per judge call (assumed)
PRICES = {"gpt-4o-mini": ModelPrice(input_per_1k=0.00015, output_per_1k=0.0006),
          "gpt-4": ModelPrice(input_per_1k=0.03, output_per_1k=0.06)}


def content_probs(w: float) -> tuple[float, float]:
    """(P content favours challenger, P favours production) so that one unbiased call scores w on average:
    w = (1 − NOISE)·(pC + TIE_SHARE/2) + NOISE/2."""
    p_c = (w - NOISE / 2) / (1 - NOISE) - TIE_SHARE / 2
    p_p = 1 - TIE_SHARE - p_c
    if p_c < 0 or p_p < 0:
        raise ValueError(f"win rate {w} is out of reach with noise {NOISE} and tie share {TIE_SHARE}")
    return p_c, p_p


def judge_pairs(rng: np.random.Generator, shape: tuple[int, int], w: float, bias: float) -> tuple[np.ndarray, ...]:
    """(both-orders score, flipped, one-order score) per judged pair."""
    p_c, _ = content_probs(w)
    u = rng.random(shape)
    # Content, as the verdict it gives with the challenger in slot A; in slot B, A and B swap.
    as_a = np.where(u < p_c, A, np.where(u < p_c + TIE_SHARE, TIE, B)).astype(np.int8)
    as_b = np.where(as_a == TIE, TIE, 1 - as_a).astype(np.int8)
    for v in (as_a, as_b):  # independent noise on each call
        noisy = rng.random(shape) < NOISE
        v[noisy] = rng.integers(0, 3, int(noisy.sum()), dtype=np.int8)
    if bias > 0:
        slot = rng.random(shape) < bias
        as_a[slot] = A
        as_b[slot] = A
    idx = as_a.astype(np.intp) * 3 + as_b
    return SCORE[idx], FLIPPED[idx], ONE_ORDER[as_a]


def half_width(n: np.ndarray | float, var: np.ndarray | float, tau: float, alpha: float) -> np.ndarray:
    """analytics.sequential's confidence-sequence half-width, on arrays."""
    s = var + n * tau * tau
    return np.sqrt(2 * var * s / (n * n * tau * tau) * (math.log(1 / alpha) + 0.5 * np.log(s / var)))


def cs_outcomes(n: np.ndarray, total: np.ndarray, squares: np.ndarray, alpha: float, tau: float,
                margin: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """win_rate_test's interval and outcome, vectorised: (lo, hi) of d = rate − 0.5, and outcome codes."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = np.maximum((squares - total * total / n) / (n - 1), 1.0 / (4 * n))
        h = half_width(n, var, tau, alpha)
    h = np.where(n < MIN_N, np.inf, h)  # n < 2 is below MIN_N too: undecided
    d = mean - 0.5
    lo, hi = d - h, d + h
    out = np.where(lo > 0, BETTER, np.where(lo > -margin, NOT_WORSE, np.where(hi < -margin, WORSE, UNDECIDED)))
    return lo, hi, out.astype(np.int8)


def first_hit(mask: np.ndarray) -> np.ndarray:
    """Judged pairs (1-based) until the mask first holds, per run; inf if never."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1) + 1.0, np.inf)


@dataclass
class Tally:
    ever: dict[int, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in (BETTER, NOT_WORSE, WORSE)})
    end: list[np.ndarray] = field(default_factory=list)
    first_decision: list[np.ndarray] = field(default_factory=list)
    first_code: list[np.ndarray] = field(default_factory=list)
    first_target: list[np.ndarray] = field(default_factory=list)

    def cat(self, name: str) -> np.ndarray:
        return np.concatenate(getattr(self, name))

    def ever_share(self, code: int) -> float:
        return float(np.concatenate(self.ever[code]).mean())


@dataclass
class Scenario:
    label: str
    w: float
    bias: float
    target: tuple[int, ...]  # outcomes that are the right decision
    taus: tuple[float, ...]
    pairs: int = 0  # max judged pairs per run, set by run()
    tallies: dict[float, Tally] = field(default_factory=dict)
    score_sum: float = 0.0
    square_sum: float = 0.0
    one_order_sum: float = 0.0
    flips: float = 0.0
    count: int = 0
    end_means: list[np.ndarray] = field(default_factory=list)
    check: list[tuple[int, float, float, float, float, int]] = field(default_factory=list)


def run(sc: Scenario, runs: int, pairs: int, rng: np.random.Generator, alpha: float, margin: float,
        chunk: int = 250) -> None:
    n = np.arange(1, pairs + 1, dtype=np.float64)
    sc.pairs = pairs
    sc.tallies = {tau: Tally() for tau in sc.taus}
    for start in range(0, runs, chunk):
        r = min(chunk, runs - start)
        score, flipped, one = judge_pairs(rng, (r, pairs), sc.w, sc.bias)
        total, squares = np.cumsum(score, axis=1), np.cumsum(score * score, axis=1)
        sc.score_sum += float(total[:, -1].sum())
        sc.square_sum += float(squares[:, -1].sum())
        sc.one_order_sum += float(one.sum())
        sc.flips += float(flipped.sum())
        sc.count += score.size
        sc.end_means.append(total[:, -1] / pairs)
        for tau in sc.taus:
            lo, hi, out = cs_outcomes(n, total, squares, alpha, tau, margin)
            t = sc.tallies[tau]
            for code in t.ever:
                t.ever[code].append((out == code).any(axis=1))
            t.end.append(out[:, -1])
            decided = out != UNDECIDED
            fd = first_hit(decided)
            t.first_decision.append(fd)
            t.first_code.append(np.where(np.isfinite(fd), out[np.arange(r), np.minimum(fd, pairs).astype(int) - 1],
                                         UNDECIDED))
            t.first_target.append(first_hit(np.isin(out, sc.target)))
            if start == 0 and tau == sc.taus[0]:  # points to check against win_rate_test
                for i in range(min(r, 3)):
                    points = {1, 2, MIN_N - 1, MIN_N, MIN_N + 1, 100, 1000, pairs}
                    changes = np.flatnonzero(np.diff(out[i])) + 1  # n (1-based) where the outcome changes: edges
                    points |= {int(c) for c in changes[:3]} | {int(c) + 1 for c in changes[:3]}
                    for p in sorted(x for x in points if 1 <= x <= pairs):
                        sc.check.append((p, float(total[i, p - 1]), float(squares[i, p - 1]),
                                         float(lo[i, p - 1]), float(hi[i, p - 1]), int(out[i, p - 1])))


def quantile(x: np.ndarray, q: float) -> float:
    return float(np.quantile(x, q, method="inverted_cdf"))  # no interpolation: inf stays inf


def fmt_pairs(x: float, pairs: int) -> str:
    return f">{pairs:,}" if not math.isfinite(x) else f"{x:,.0f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--max-pairs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--alt-tau", type=float, default=0.03, help="a second tau row to explain results; 0 = off")
    parser.add_argument("--long-pairs", type=int, default=12_000,
                        help="horizon of an extra w 0.40 biased-judge row, to measure the pairs it needs; 0 = off")
    args = parser.parse_args()
    began = time.perf_counter()
    s = Settings()
    # From Settings where a field exists (the quality test has no alpha of its own yet: promotion_alpha).
    found = {}
    for key, names, default in (("alpha", ("quality_alpha", "promotion_alpha"), 0.01),
                                ("margin", ("quality_margin",), 0.05), ("tau", ("quality_msprt_tau",), 0.1)):
        name = next((x for x in names if hasattr(s, x)), None)
        found[key] = (getattr(s, name), f"Settings.{name}") if name else (default, "default")
    (alpha, _), (margin, _), (tau, _) = found["alpha"], found["margin"], found["tau"]
    source = ", ".join(f"{k} from {src}" for k, (_, src) in found.items())
    taus = (tau, args.alt_tau) if args.alt_tau and args.alt_tau != tau else (tau,)
    runs, pairs = args.runs, args.max_pairs
    promoted = (BETTER, NOT_WORSE)
    # At the margin: the both-orders score the test sees is 0.5 + (1 − BIAS)(w − 0.5); w here makes it 0.45.
    w_margin = 0.5 - margin / (1 - BIAS)
    scenarios = [
        Scenario("A/A", 0.5, BIAS, (NOT_WORSE,), taus),
        Scenario("w 0.40", 0.40, BIAS, (WORSE,), taus),
        Scenario("w 0.60", 0.60, BIAS, promoted, taus),
        Scenario("w 0.40, no pos. bias", 0.40, 0.0, (WORSE,), taus),
        Scenario("w 0.60, no pos. bias", 0.60, 0.0, promoted, taus),
        Scenario(f"at margin (w {w_margin:.3f})", w_margin, BIAS, (WORSE,), taus),
    ]
    long = Scenario("w 0.40", 0.40, BIAS, (WORSE,), (tau,)) if args.long_pairs > pairs else None
    seeds = np.random.SeedSequence(args.seed).spawn(len(scenarios) + 1)
    for sc, ss in zip(scenarios, seeds):
        run(sc, runs, pairs, np.random.default_rng(ss), alpha, margin)
    if long is not None:
        run(long, runs, args.long_pairs, np.random.default_rng(seeds[-1]), alpha, margin)
    aa, w40, w60, w40u, w60u, at_margin = scenarios

    print(f"pairwise judge simulation: {runs:,} runs x up to {pairs:,} judged pairs (2 calls each), "
          f"test checked after every pair; seed {args.seed}")
    print(f"test: alpha {alpha}, margin {margin}, tau {tau} ({source}); min pairs {MIN_N}"
          + (f"; second rows with tau {args.alt_tau} (explanation only)" if len(taus) > 1 else ""))
    for w in (0.5, 0.4, 0.6):
        p_c, p_p = content_probs(w)
        call_c = (1 - NOISE) * p_c + NOISE / 3
        call_t = (1 - NOISE) * TIE_SHARE + NOISE / 3
        print(f"judge at w {w:.2f}: content favours challenger {p_c:.3f} / tie {TIE_SHARE:.2f} / production {p_p:.3f}; "
              f"one unbiased call prefers challenger {call_c:.3f}, tie {call_t:.3f}, production {1 - call_c - call_t:.3f}")
    print(f"  w = P(prefers challenger) + 1/2 P(tie) of one call WITHOUT position bias (noise {NOISE:.0%} random "
          f"verdicts included); position bias: answers A in both orders on {BIAS:.0%} of pairs")

    # Formula check against win_rate_test.
    agree, total_points, d_lo, d_hi = 0, 0, 0.0, 0.0
    for sc in (aa, w40, w60):
        for p, tot, sq, lo, hi, code in sc.check:
            res = win_rate_test(p, tot, sq, alpha, tau, margin)
            total_points += 1
            agree += res.outcome == NAMES[code]
            if res.low is not None:
                d_lo = max(d_lo, abs(res.low - max(0.0, 0.5 + lo)))
                d_hi = max(d_hi, abs(res.high - min(1.0, 0.5 + hi)))
            elif math.isfinite(lo):
                d_lo = math.inf
    print(f"\nformula check vs analytics.win_rate.win_rate_test at {total_points} points (n = 1, 2, 29-31, 100, "
          f"1000, {pairs}, and each side of outcome changes): outcomes agree {agree}/{total_points}, "
          f"max |low diff| {d_lo:.1e}, max |high diff| {d_hi:.1e}  "
          f"{verdict(agree == total_points and d_lo < 1e-9 and d_hi < 1e-9)}")

    print(f"\n1. A/A (w 0.50, biased judge), checked after every pair up to {pairs:,}:")
    print(f"   {'tau':>5} {'ever worse':>16} {'ever better':>17} {'end not_worse':>14} {'end undecided':>14} "
          f"{'end better':>11} {'end worse':>10}")
    for t in taus:
        tl = aa.tallies[t]
        end = tl.cat("end")
        ew, eb = tl.ever_share(WORSE), tl.ever_share(BETTER)
        print(f"   {t:>5} {ew:>7.2%} {verdict(ew <= 0.01) if t == tau else '':>4} <=1% {eb:>7.2%} "
              f"{verdict(eb <= 0.01) if t == tau else '':>4} <=1% {(end == NOT_WORSE).mean():>14.2%} "
              f"{(end == UNDECIDED).mean():>14.2%} {(end == BETTER).mean():>11.2%} {(end == WORSE).mean():>10.2%}")
    tl = at_margin.tallies[tau]
    wrong = float((np.concatenate(tl.ever[NOT_WORSE]) | np.concatenate(tl.ever[BETTER])).mean())
    print(f"   at the margin (both-orders score 0.45 = w {w_margin:.3f} with the bias), tau {tau}: ever not_worse "
          f"or better {wrong:.2%} (the non-inferiority error; <= alpha expected)")

    print(f"\n2. power within {pairs:,} judged pairs (first time the right outcome is reached; "
          f"wrong = first decision was another outcome):")
    print(f"   {'case':<22} {'judge':<16} {'tau':>5} {'reached':>8} {'target':>12} {'wrong':>6} "
          f"{'median pairs':>13} {'p95 pairs':>10} {'end mean score':>15}")
    for sc in (w40, w60, w40u, w60u, *([long] if long else [])):
        if sc is long:
            print(f"   the same w 0.40 biased judge with a longer horizon, {long.pairs:,} pairs (to measure what it needs):")
        for t in sc.taus:
            tl = sc.tallies[t]
            ft, fc, fd = tl.cat("first_target"), tl.cat("first_code"), tl.cat("first_decision")
            power = float(np.isfinite(ft).mean())
            wrong = float((np.isfinite(fd) & ~np.isin(fc, sc.target)).mean())
            goal = "worse" if sc.target == (WORSE,) else "promoted"
            mark = verdict(power >= 0.95) if (t == tau and sc.bias > 0 and sc is not long) else "(info)"
            pairs = sc.pairs
            print(f"   {sc.label:<22} {'biased' if sc.bias else 'no position bias':<16} {t:>5} {power:>8.2%} "
                  f"{mark:>4} >=95% {wrong:>6.2%} {fmt_pairs(quantile(ft, 0.5), pairs):>13} "
                  f"{fmt_pairs(quantile(ft, 0.95), pairs):>10} {np.concatenate(sc.end_means).mean():>15.3f}"
                  f"  ({goal})")
    pairs = args.max_pairs
    for sc in (w40, w40u):  # why the rejection of w 0.40 needs so many more pairs with the biased judge
        mean = sc.score_sum / sc.count
        var = sc.square_sum / sc.count - mean * mean
        alt = args.alt_tau or tau
        print(f"   w {sc.w:.2f}, {'biased judge' if sc.bias else 'no position bias'}: the test sees a mean score "
              f"{mean:.3f}, {0.5 - margin - mean:.3f} below 0.5 - margin = {0.5 - margin:.2f} (score sd "
              f"{math.sqrt(var):.3f}); the confidence sequence's half-width at {pairs:,} pairs is "
              f"{float(half_width(pairs, var, tau, alpha)):.3f} (tau {tau}), "
              f"{float(half_width(pairs, var, alt, alpha)):.3f} (tau {alt})")

    print("\n3. position bias (pooled over all runs and pairs; one order = challenger always in slot A):")
    print(f"   {'case':<22} {'true w':>6} {'one order':>9} {'both orders':>11} {'flip rate':>9} "
          f"{'shrinkage':>9} {'sign kept':>9}")
    for sc in (aa, w60, w40, w60u, w40u):
        both, one, flip = sc.score_sum / sc.count, sc.one_order_sum / sc.count, sc.flips / sc.count
        if sc.w == 0.5:
            shrink, sign = "n/a", f"{both - 0.5:+.4f} from 0.5 (within +-0.01: {verdict(abs(both - 0.5) <= 0.01)})"
        else:
            shrink = f"{1 - (both - 0.5) / (sc.w - 0.5):.1%}"
            ends = np.concatenate(sc.end_means)
            kept = (both - 0.5) * (sc.w - 0.5) > 0
            sign = (f"{verdict(kept)}; one order {'kept' if (one - 0.5) * (sc.w - 0.5) > 0 else 'REVERSED'}; "
                    f"runs right side at {pairs:,}: {((ends - 0.5) * (sc.w - 0.5) > 0).mean():.1%}")
        print(f"   {sc.label:<22} {sc.w:>6.2f} {one:>9.4f} {both:>11.4f} {flip:>9.1%} {shrink:>9}   {sign}")
    print(f"   shrinkage = 1 - (both - 0.5) / (w - 0.5): the {BIAS:.0%} slot-following pairs, now ties. The flip rate "
          f"also counts pairs flipped by the {NOISE:.0%} random verdicts ({w60u.flips / w60u.count:.1%} "
          f"without bias), which are part of w, so it is about {BIAS:.0%} + {1 - BIAS:.0%} x that")
    ends = np.concatenate(aa.end_means)
    print(f"   A/A per-run mean at {pairs:,} pairs: 2.5-97.5 % range {quantile(ends, 0.025):.4f}-{quantile(ends, 0.975):.4f}")

    per_pair = {name: 2 * price.cost(PROMPT_TOKENS, COMPLETION_TOKENS) for name, price in PRICES.items()}
    print(f"\n4. judge spend per decision, tau {tau}: 2 calls per pair, assumed {PROMPT_TOKENS:,} prompt + "
          f"{COMPLETION_TOKENS} completion tokens per call; "
          + "; ".join(f"{k} ${p.input_per_1k}/${p.output_per_1k} per 1k = ${per_pair[k]:.5f} per pair"
                      for k, p in PRICES.items()))
    print(f"   {'case':<30} {'median pairs':>12} {'p95 pairs':>10} "
          + " ".join(f"{k + ' median':>17} {k + ' p95':>14}" for k in PRICES))
    rows = [("A/A -> first decision", aa.tallies[tau].cat("first_decision"), pairs),
            ("w 0.40 -> worse", w40.tallies[tau].cat("first_target"), pairs),
            ("w 0.60 -> promoted", w60.tallies[tau].cat("first_target"), pairs),
            ("w 0.40 no pos. bias -> worse", w40u.tallies[tau].cat("first_target"), pairs),
            ("w 0.60 no pos. bias -> promoted", w60u.tallies[tau].cat("first_target"), pairs)]
    if long is not None:
        rows.insert(2, (f"w 0.40 -> worse, {long.pairs:,} max", long.tallies[tau].cat("first_target"), long.pairs))
    for label, x, pairs in rows:
        med, p95 = quantile(x, 0.5), quantile(x, 0.95)
        cells = []
        for k in PRICES:
            for v in (med, p95):
                cells.append(f"${v * per_pair[k]:,.2f}" if math.isfinite(v) else f">${pairs * per_pair[k]:,.2f}")
        print(f"   {label:<30} {fmt_pairs(med, pairs):>12} {fmt_pairs(p95, pairs):>10} "
              + " ".join(f"{cells[2 * i]:>17} {cells[2 * i + 1]:>14}" for i in range(len(PRICES))))
    print(f"\ntotal run time {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    main()
