"""Scorers at hand: `similarity` (score your own pairs), `rescore` (shadow.results -> new scorer version),
`noise-floor` (each challenger next to the control, per route)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from schemas.errors import InvalidRequestError
from schemas.settings import Settings

_METHODS = ("lexical", "embedding", "local", "hashing", "http")
_BATCH = 64


def _read_pairs(handle: IO[str]) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, row, error) for every non-empty line."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            yield number, None, f"not JSON: {exc}"
            continue
        if not isinstance(row, dict):
            yield number, None, "each line must be a JSON object with a/b or s1/s2"
            continue
        a, b = (row.get("a"), row.get("b")) if "a" in row or "b" in row else (row.get("s1"), row.get("s2"))
        if not isinstance(a, str) or not isinstance(b, str):
            yield number, None, "needs two string fields: a and b, or s1 and s2"
            continue
        yield number, {"a": a, "b": b, "id": row.get("id")}, None


def _method_settings(method: str, settings: Settings) -> Settings:
    if method == "lexical":
        return settings.model_copy(update={"similarity_method": "lexical"})
    update: dict[str, Any] = {"similarity_method": "embedding"}
    if method != "embedding":
        update["embedding_provider"] = method
    return settings.model_copy(update=update)


async def _similarity(args: argparse.Namespace, settings: Settings) -> int:
    from stream_agents.scoring.scorer import Scorer
    from stream_agents.scoring.similarity import lexical_similarity

    settings = _method_settings(args.method, settings)
    handle = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")
    bad = 0
    try:
        async with Scorer(settings.scoring, settings.connections, use_judge=False) as scorer:
            batch: list[tuple[int, dict[str, Any] | None, str | None]] = []

            async def flush() -> None:
                nonlocal bad
                good = [(n, row) for n, row, err in batch if row is not None]
                scores = {}
                if scorer.embeddings is not None and good:
                    results = await scorer.embeddings.score_pairs([(r["a"], r["b"]) for _n, r in good])
                    scores = {n: s for (n, _r), s in zip(good, results)}
                for n, row, err in batch:
                    if row is None:
                        bad += 1
                        out: dict[str, Any] = {"line": n, "error": err}
                    else:
                        s = scores.get(n) or lexical_similarity(row["a"], row["b"])
                        out = {"line": n, "score": round(s.value, 6), "method": s.method,
                               "components": {k: round(v, 6) for k, v in s.components.items()}}
                        if row.get("id") is not None:
                            out["id"] = row["id"]
                    print(json.dumps(out, ensure_ascii=False), flush=False)
                sys.stdout.flush()
                batch.clear()

            for item in _read_pairs(handle):
                batch.append(item)
                if len(batch) >= _BATCH:
                    await flush()
            await flush()
    finally:
        if handle is not sys.stdin:
            handle.close()
    return 1 if bad else 0


def _run_similarity(args: argparse.Namespace, settings: Settings) -> int:
    if args.method != "lexical":  # an embedding cache needs the stack's Redis if one runs
        from shadow_optic.stack.launcher import resolve_settings

        try:
            settings = resolve_settings(settings)
        except Exception:  # no local stack: embed without a cache
            pass
    return asyncio.run(_similarity(args, settings))


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequestError(f"{text!r} is not a time: use ISO 8601, e.g. 2026-11-22T10:00:00Z") from None
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _run_rescore(args: argparse.Namespace, settings: Settings) -> int:
    from shadow_optic.stack.launcher import resolve_settings
    from stream_agents.scoring.rescore import rescore

    if args.method:
        settings = _method_settings(args.method, settings)
    since, until = _when(args.since), _when(args.until)

    def progress(report) -> None:
        print(f"rescore: read {report.read}, written {report.written}", file=sys.stderr)

    report = rescore(resolve_settings(settings), since, until, progress=None if args.quiet else progress)
    print(report.model_dump_json())
    return 1 if report.failed else 0


def _run_noise_floor(args: argparse.Namespace, settings: Settings) -> int:
    from analytics.noise_floor import noise_floor
    from analytics.scope import latest_scorer_version
    from infra.clickhouse import connect
    from shadow_optic.stack.launcher import resolve_settings

    settings = resolve_settings(settings)
    client = connect(settings.clickhouse_url, settings.clickhouse_security)
    try:
        version = args.scorer_version or latest_scorer_version(client, args.app)
        rows = noise_floor(client, version, app=args.app, since=_when(args.since)) if version else []
    finally:
        client.close()
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows]))
        return 0
    if not rows:
        print("no scored rows" + (f" for scorer version {version}" if version else ""))
        return 0
    print(f"scorer version {version}")
    print(f"{'app':14} {'route':24} {'challenger':20} {'n':>6} {'sim':>7} {'control':>8} {'gap':>8} {'±se':>7}")
    for r in rows:
        def f(v: float | None, w: int) -> str:
            return f"{v:>{w}.4f}" if v is not None else f"{'-':>{w}}"
        name = r.challenger + (" (control)" if r.is_control else "")
        print(f"{r.app[:14]:14} {r.route[:24]:24} {name[:20]:20} {r.n:>6} {f(r.mean_similarity, 7)} "
              f"{f(r.control_mean_similarity, 8)} {f(r.gap, 8)} {f(r.gap_stderr, 7)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    sim = sub.add_parser("similarity", help="score JSONL pairs (a/b or s1/s2) with a similarity scorer")
    sim.add_argument("file", help="JSONL file, or - for standard input")
    sim.add_argument("--method", choices=_METHODS, default="lexical",
                     help="lexical (default); embedding (SHADOW_EMBEDDING_PROVIDER); or a provider: local, "
                          "hashing, http")
    sim.set_defaults(func=_run_similarity)

    re_ = sub.add_parser("rescore", help="score shadow.results again with the current scorers into ClickHouse")
    re_.add_argument("--from", dest="since", help="ISO time: first Kafka timestamp to read (default: the start)")
    re_.add_argument("--to", dest="until", help="ISO time: stop before this Kafka timestamp (default: the end)")
    re_.add_argument("--method", choices=_METHODS, default=None, help="override SHADOW_SIMILARITY_METHOD")
    re_.add_argument("--quiet", action="store_true")
    re_.set_defaults(func=_run_rescore)

    nf = sub.add_parser("noise-floor", help="each challenger's similarity next to the control's, per route")
    nf.add_argument("--app", default="")
    nf.add_argument("--scorer-version", default="", help="default: the most recently written version")
    nf.add_argument("--since", default=None, help="ISO time: only requests from then on")
    nf.add_argument("--json", action="store_true")
    nf.set_defaults(func=_run_noise_floor)
