"""Benchmark every similarity scorer, and the refusal detector (and the judge, when one is configured).

1. STS-B dev (1,500 pairs): Spearman vs human scores and pairs/s on one core (CPU time; torch limited
   to one thread) for lexical-2, the hashing embedding, the local all-MiniLM-L6-v2 (if the extra is
   installed) and an /v1/embeddings endpoint (if SHADOW_EMBEDDING_BASE_URL is set), next to the
   bag-of-words and char-trigram baselines measured in the same run.
2. paired_responses (405 GPT-4 vs text-davinci-003 pairs): distribution of similarity between the two
   answers, and AUC of each scorer at separating the pairs the GPT-4 judge preferred for production
   (381) from the others (24): score = 1 - similarity (a challenger that strays is worse).
3. bench/data/refusal_labels.jsonl (hand labels, see its first line): precision/recall of is_refusal,
   and of the LLM judge's refusal flag when SHADOW_JUDGE_BASE_URL is set.

    python bench/bench_scoring.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from bench_similarity import bow_cosine, load, trigram_cosine  # noqa: E402
from schemas.settings import Settings  # noqa: E402
from stream_agents.scoring import (  # noqa: E402
    EmbeddingSimilarity,
    HashingEmbedder,
    LocalEmbedder,
    is_refusal,
    length_ratio,
    lexical_similarity,
    local_embedder_available,
)


def auc(positives: list[float], negatives: list[float]) -> float:
    """P(score of a positive > score of a negative), ties half (Mann-Whitney)."""
    p, n = np.asarray(positives)[:, None], np.asarray(negatives)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def embedding_scorers() -> dict[str, EmbeddingSimilarity]:
    scorers = {"embedding hashing-384-v1 (not semantic)": EmbeddingSimilarity(HashingEmbedder(), chunk_chars=1000)}
    if local_embedder_available():
        import torch

        torch.set_num_threads(1)  # "per core"
        scorers["embedding all-MiniLM-L6-v2 (local)"] = EmbeddingSimilarity(LocalEmbedder(), chunk_chars=1000)
    return scorers


async def http_scorer(settings: Settings):
    import httpx

    from stream_agents.scoring import HttpEmbedder

    http = httpx.AsyncClient()
    secret = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
    embedder = HttpEmbedder(http, settings.embedding_base_url, settings.embedding_model, secret)
    return http, EmbeddingSimilarity(embedder, chunk_chars=settings.embedding_chunk_chars)


async def score_all(scorer: EmbeddingSimilarity, pairs: list[tuple[str, str]]) -> tuple[list[float], float, float]:
    t0, w0 = time.process_time(), time.perf_counter()
    scores = await scorer.score_pairs(pairs)
    return [s.value for s in scores], len(pairs) / max(time.process_time() - t0, 1e-9), \
        len(pairs) / (time.perf_counter() - w0)


async def main_async() -> int:
    sts = load("sts_dev.jsonl")
    pairs = [(r["s1"], r["s2"]) for r in sts]
    gold = [r["score"] for r in sts]
    settings = Settings()
    results: dict[str, tuple[float, float]] = {}

    def run_sync(name: str, fn) -> None:
        t0 = time.process_time()
        values = [fn(a, b) for a, b in pairs]
        rate = len(pairs) / (time.process_time() - t0)
        results[name] = (float(spearmanr(values, gold)[0]), rate)

    run_sync("baseline bag-of-words cosine", bow_cosine)
    run_sync("baseline char-trigram cosine", trigram_cosine)
    run_sync("lexical-2 (default)", lambda a, b: lexical_similarity(a, b).value)
    scorers = embedding_scorers()
    http = None
    if settings.embedding_base_url:
        http, scorers[f"embedding {settings.embedding_model} (http)"] = await http_scorer(settings)
    for name, scorer in scorers.items():
        values, rate, _wall = await score_all(scorer, pairs)
        results[name] = (float(spearmanr(values, gold)[0]), rate)

    print(f"STS-B dev: {len(pairs)} pairs; pairs/s = one core (CPU time of this process)")
    bow = results["baseline bag-of-words cosine"]
    for name, (rho, rate) in results.items():
        print(f"  {name:44s} spearman {rho:.4f} (x{rho / bow[0]:.2f} bow)  {rate:>10,.0f} pairs/s "
              f"(x{rate / bow[1]:.3f} bow)")

    rows = load("paired_responses.jsonl")
    prod_pref = [r["rating"]["preferred"] == "production" for r in rows]
    paired = [(r["production_response"], r["challenger_response"]) for r in rows]
    print(f"\npaired_responses: {len(rows)} pairs; judge preferred production in {sum(prod_pref)}, "
          f"other {len(rows) - sum(prod_pref)}. AUC: 1 - similarity ranks production-preferred pairs higher")
    per_scorer: dict[str, list[float]] = {"lexical-2 (default)": [lexical_similarity(a, b).value for a, b in paired]}
    for name, scorer in scorers.items():
        per_scorer[name] = (await score_all(scorer, paired))[0]
    for name, values in per_scorer.items():
        q = np.quantile(values, [0.1, 0.5, 0.9])
        a = auc([1 - v for v, p in zip(values, prod_pref) if p], [1 - v for v, p in zip(values, prod_pref) if not p])
        print(f"  {name:44s} mean {statistics.fmean(values):.3f}  p10 {q[0]:.3f}  p50 {q[1]:.3f}  p90 {q[2]:.3f}"
              f"  AUC {a:.3f}")
    lengths = [length_ratio(c, p) for p, c in paired]
    a = auc([-v for v, p in zip(lengths, prod_pref) if p], [-v for v, p in zip(lengths, prod_pref) if not p])
    print(f"  {'reference: shorter challenger (length ratio)':44s} AUC {a:.3f}  (a length-only baseline)")
    if http is not None:
        await http.aclose()

    labels_path = REPO / "bench" / "data" / "refusal_labels.jsonl"
    labels = [json.loads(line) for line in labels_path.read_text().splitlines()[1:] if line.strip()]
    by_id = {r["id"]: r for r in rows}
    truth = [lab["refusal"] for lab in labels]
    predicted = [is_refusal(by_id[lab["id"]][f"{lab['side']}_response"]) for lab in labels]
    tp = sum(t and p for t, p in zip(truth, predicted))
    fp = sum(p and not t for t, p in zip(truth, predicted))
    fn = sum(t and not p for t, p in zip(truth, predicted))
    print(f"\nrefusal labels: {len(labels)} answers, {sum(truth)} refusals (hand-labelled, {labels_path.name})")
    print(f"  is_refusal      precision {tp / max(tp + fp, 1):.3f}  recall {tp / max(tp + fn, 1):.3f}  "
          f"(tp {tp}, fp {fp}, fn {fn})")
    if not settings.judge_base_url:
        print("  LLM judge       not measured: set SHADOW_JUDGE_BASE_URL (+ _MODEL, _API_KEY) to an "
              "OpenAI-compatible chat endpoint")
        return 0
    await judge_figures(settings, rows, labels, truth, prod_pref)
    return 0


async def judge_figures(settings: Settings, rows, labels, truth, prod_pref) -> None:
    """Costs judge calls: every labelled answer once, every paired row once (x judge_repeats)."""
    import httpx

    from stream_agents.scoring import LLMJudge

    async with httpx.AsyncClient() as http:
        secret = settings.judge_api_key.get_secret_value() if settings.judge_api_key else None
        judge = LLMJudge(http, settings.judge_base_url, settings.judge_model, secret, repeats=settings.judge_repeats,
                         rate_per_s=settings.judge_rps, burst=settings.judge_burst,
                         concurrency=settings.judge_concurrency, temperature=settings.judge_temperature)
        by_id = {r["id"]: r for r in rows}

        async def on_label(lab):
            r = by_id[lab["id"]]
            other = "challenger" if lab["side"] == "production" else "production"
            return await judge.judge(r["prompt"], r[f"{other}_response"], r[f"{lab['side']}_response"],
                                     lab["id"], lab["side"])

        verdicts = await asyncio.gather(*(on_label(lab) for lab in labels))
        pairs = [(t, v.refusal) for t, v in zip(truth, verdicts) if v is not None and v.refusal is not None]
        tp = sum(t and p for t, p in pairs)
        fp = sum(p and not t for t, p in pairs)
        fn = sum(t and not p for t, p in pairs)
        print(f"  LLM judge {judge.model}: precision {tp / max(tp + fp, 1):.3f}  recall {tp / max(tp + fn, 1):.3f} "
              f"on {len(pairs)} verdicts")
        scores = await asyncio.gather(*(judge.judge(r["prompt"], r["production_response"], r["challenger_response"],
                                                    r["id"], "challenger") for r in rows))
        gaps = [(s.quality_production - s.quality, p) for s, p in zip(scores, prod_pref)
                if s is not None and s.quality is not None and s.quality_production is not None]
        a = auc([g for g, p in gaps if p], [g for g, p in gaps if not p])
        noise = [s.noise for s in scores if s is not None and s.noise is not None]
        print(f"  LLM judge quality gap (production - challenger): AUC {a:.3f} on {len(gaps)} pairs; "
              f"judge noise {statistics.fmean(noise) if noise else float('nan'):.3f}; "
              f"faithfulness mean {statistics.fmean(s.faithfulness for s in scores if s and s.faithfulness is not None):.3f}")


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return asyncio.run(main_async())


if __name__ == "__main__":
    raise SystemExit(main())
