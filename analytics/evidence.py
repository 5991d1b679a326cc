"""The exact path: challenger evidence as if read from shadow_scores FINAL (each (event, challenger) once).

Gates, readiness and the statistical tests use this path, never the at-least-once rollup.
Scanning every pair on each check does not scale (4.4 s at 10 M rows), so closed hours are rolled
up once into shadow_evidence_hourly (sums, the paired sums against the control, t-digest states
for the p95 latencies) by the same SQL that reads the open tail, and closed days are merged from
their hours. A read then merges:

  rolled-up days, then hours, inside the window that no row has touched since their refresh
  + the open hour's closed 5-minute part, rolled up the same way (span_hours = 0)
    while no row has landed in it since
  + every other row of the window read from shadow_scores FINAL (the last ~5-10 minutes, the
    window's ragged edges, and hours touched since the refresh: late or re-sent rows).

Both halves come from one SELECT, so the answer equals a full scan's: counts, sums, means and
standard deviations exactly; the p95 latencies through t-digest (well under 1 % at p95).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client

from analytics.calibration import JudgeCalibration
from analytics.judgments import gather_quality, latest_judge_version
from analytics.people import gather_people
from analytics.outcomes import outcome_comparison
from analytics.promotion import ChallengerEvidence
from analytics.scope import Scope, nan_to_none
from analytics.watermarks import (EPOCH, EVIDENCE_MARK, EVIDENCE_OPEN_MARK, REFRESH_EVERY, SETTLE, day_floor,
                                  five_minute_floor, hour_floor, ranges_to_refresh, read_marks, server_now,
                                  write_watermark)
from schemas.clickhouse import SCORES_TABLE
from schemas.clickhouse.figures import FIGURES

__all__ = ["gather_evidence", "refresh_evidence", "EVIDENCE_TABLE"]

EVIDENCE_TABLE = "shadow_evidence_hourly"
_READ_SETTINGS = {"use_skip_indexes_if_final": 1, "do_not_merge_across_partitions_select_final": 1}

_SIM_OK = "s.status = 'ok' AND s.similarity IS NOT NULL"
_SHARED = ("rows", "ok", "errors", "sim_n", "sim_sum", "sim_sq", "refusal_n", "refusals", "flips", "prod_cost", "ch_cost")
_PAIRED = f"NOT s.is_control AND {_SIM_OK} AND s.control_n > 0"
# name -> (aggregate over shadow_scores rows, how hourly rows of that name combine)
_FIELDS: dict[str, tuple[str, str]] = {
    "challenger_model": ("any(s.challenger_model)", "any"),
    "is_control": ("max(s.is_control)", "max"),
    # The figures drift shows too, as figures.py defines them (over the rows of s).
    **{name: (FIGURES[name].exact, "sum") for name in _SHARED},
    # Classifier and JSON models: does the label agree with production's?
    "label_n": ("countIf(s.label_agree IS NOT NULL)", "sum"),
    "label_agree": ("countIf(ifNull(s.label_agree, false))", "sum"),
    "label_flips": ("countIf(s.label_flip != '')", "sum"),
    "first_ts": ("min(s.ts_request)", "min"),
    "last_ts": ("max(s.ts_request)", "max"),
    # d = similarity(challenger) − similarity(control) on the same event: pairing removes the
    # per-prompt difficulty both share, so the primary test needs far fewer samples.
    "paired_n": (f"countIf({_PAIRED})", "sum"),
    "paired_sum": (f"sumIf(ifNull(s.similarity, 0.) - s.control_sim, {_PAIRED})", "sum"),
    "paired_sq": (f"sumIf(pow(ifNull(s.similarity, 0.) - s.control_sim, 2), {_PAIRED})", "sum"),
    "latency_delta_q": ("quantileTDigestState(0.95)(if(s.status = 'ok', s.latency_delta_ms, NULL))",
                        "quantileTDigestMerge(0.95)"),
    "challenger_latency_q": ("quantileTDigestState(0.95)(if(s.status = 'ok', s.challenger_latency_ms, NULL))",
                             "quantileTDigestMerge(0.95)"),
    "production_latency_q": ("quantileTDigestState(0.95)(s.production_latency_ms)", "quantileTDigestMerge(0.95)"),
}
_KEYS = ["app", "scorer_version", "challenger", "span_hours", "hour"]
_COLUMNS = ", ".join(_KEYS + list(_FIELDS))
_SCORE_COLUMNS = ("app, scorer_version, challenger, event_id, challenger_model, is_control, ts_request, status, "
                  "similarity, similarity_components, refusal_production, refusal_challenger, label_agree, label_flip, "
                  "production_cost_usd, "
                  "challenger_cost_usd, latency_delta_ms, challenger_latency_ms, production_latency_ms")


def _hourly_sql(rows_where: str, span_hours: int = 1) -> str:
    """Evidence per (app, scorer version, challenger, hour) of the shadow_scores rows matching `rows_where`."""
    aggregates = ",\n    ".join(f"{expr} AS {name}" for name, (expr, _) in _FIELDS.items())
    return f"""
SELECT s.app AS app, s.scorer_version AS scorer_version, s.challenger AS challenger,
    toUInt8({span_hours}) AS span_hours, toStartOfHour(s.ts_request) AS hour,
    {aggregates}
FROM (SELECT {_SCORE_COLUMNS},
          -- the control's similarity on the same event; a window, not a join: 3x faster here
          avgIf(assumeNotNull(similarity), is_control AND status = 'ok' AND similarity IS NOT NULL)
              OVER event AS control_sim,
          countIf(is_control AND status = 'ok' AND similarity IS NOT NULL) OVER event AS control_n
      FROM {SCORES_TABLE} FINAL WHERE {rows_where}
      WINDOW event AS (PARTITION BY app, scorer_version, event_id)) AS s
GROUP BY app, scorer_version, challenger, hour"""


def _state_of(combine: str) -> str:
    """The combinator that merges hourly values into a day's value (a state stays a state)."""
    return combine.replace("Merge(", "MergeState(")


def _merge_days(client: Client, days: list[datetime], began: datetime) -> None:
    merged = ",\n    ".join(f"{_state_of(how)}({name}) AS {name}" for name, (_, how) in _FIELDS.items())
    client.command(
        f"INSERT INTO {EVIDENCE_TABLE} ({_COLUMNS}, computed_at)\n"
        f"SELECT app, scorer_version, challenger, toUInt8(24), toStartOfDay(hour) AS day,\n    {merged},\n"
        "    {began:DateTime64(3, 'UTC')}\n"
        f"FROM {EVIDENCE_TABLE} FINAL\n"
        "WHERE span_hours = 1 AND has({days:Array(DateTime('UTC'))}, toStartOfDay(hour))\n"
        "GROUP BY app, scorer_version, challenger, day",
        parameters={"days": days, "began": began})


def refresh_evidence(client: Client, now: datetime | None = None) -> int:
    """Roll up every closed hour not rolled up yet and every dirty one; returns how many hour ranges ran.

    Idempotent and safe to run from several processes at once: a recomputed hour replaces the
    earlier row, and the watermark records the start time of the refresh that wrote it.
    """
    began = server_now(client)
    marks = read_marks(client, EVIDENCE_MARK)
    watermark, target = marks.watermark, hour_floor((now or began) - SETTLE)
    # A day at a time, only days with rows: the control side of the paired join stays small.
    ranges = ranges_to_refresh(
        client, marks, target,
        f"SELECT DISTINCT toStartOfDay(ts_request) FROM {SCORES_TABLE} "
        "WHERE ts_request >= {lo:DateTime64(3, 'UTC')} AND ts_request < {hi:DateTime64(3, 'UTC')} ORDER BY 1",
        settings=_READ_SETTINGS)
    for lo, hi in ranges:
        client.command(
            f"INSERT INTO {EVIDENCE_TABLE} ({_COLUMNS}, computed_at) SELECT *, {{began:DateTime64(3, 'UTC')}} FROM ("
            + _hourly_sql("ts_request >= {lo:DateTime64(3, 'UTC')} AND ts_request < {hi:DateTime64(3, 'UTC')}") + ")",
            parameters={"lo": lo, "hi": hi, "began": began}, settings=_READ_SETTINGS)
    new_watermark = max(target, watermark)
    # Days now complete that this refresh touched, or that it completed (rolled partly before).
    days = {day_floor(lo) for lo, _ in ranges} | {day_floor(watermark)}
    complete = sorted(d for d in days if d + timedelta(days=1) <= new_watermark)
    if complete:
        _merge_days(client, complete, began)
    write_watermark(client, EVIDENCE_MARK, new_watermark, began)
    # The open hour's closed 5-minute part, so reads take only the last minutes raw. Rows are keyed by
    # their bound: a read holding the previous open mark still finds the rows it names.
    open_until = five_minute_floor((now or began) - SETTLE)
    if open_until > new_watermark:
        client.command(
            f"INSERT INTO {EVIDENCE_TABLE} ({_COLUMNS}, open_until, computed_at) SELECT *, {{hi:DateTime('UTC')}}, "
            "{began:DateTime64(3, 'UTC')} FROM ("
            + _hourly_sql("ts_request >= {lo:DateTime64(3, 'UTC')} AND ts_request < {hi:DateTime64(3, 'UTC')}",
                          span_hours=0) + ")",
            parameters={"lo": new_watermark, "hi": open_until, "began": began}, settings=_READ_SETTINGS)
        write_watermark(client, EVIDENCE_OPEN_MARK, open_until, began)
    return len(ranges)


def _summary(client: Client, scope: Scope, refresh: bool, rollup: bool) -> list[dict]:
    params = scope.params()
    marks = read_marks(client, EVIDENCE_MARK, EVIDENCE_OPEN_MARK)
    now = datetime.now(UTC)
    behind = marks.dirty or five_minute_floor(now - SETTLE) > max(marks.watermark, marks.open_until or EPOCH)
    if refresh and behind and now - marks.refreshed_at >= REFRESH_EVERY:
        refresh_evidence(client)
        marks = read_marks(client, EVIDENCE_MARK, EVIDENCE_OPEN_MARK)
    watermark, dirty = marks.watermark, marks.dirty
    since = params["since"].replace(tzinfo=UTC)
    until = params["until"].replace(tzinfo=UTC)
    lo = hour_floor(since) + (timedelta(hours=1) if hour_floor(since) < since else timedelta(0))
    hi = min(hour_floor(until), watermark)
    if hi <= lo or not rollup:
        lo = hi = watermark  # nothing rolled up inside the window: read it all from shadow_scores
    # The open hour's rolled-up part, when the window holds all of it and nothing landed in it since.
    open_until = marks.open_until if rollup and marks.open_until and hi == watermark and lo <= watermark \
        and until >= marks.open_until else None
    # A clean complete day inside [lo, hi) comes from its day row, every other clean hour from its row.
    # Dirty terms only when some hour is dirty: ClickHouse plans every term before it reads a row.
    day_used = ("({d} >= {{lo:DateTime('UTC')}} AND {d} + INTERVAL 1 DAY <= {{hi:DateTime('UTC')}}"
                + (" AND NOT has({{dirty_days:Array(DateTime('UTC'))}}, {d}))" if dirty else ")"))
    rolled = ("(span_hours = 24 AND " + day_used.format(d="hour") + ") OR (span_hours = 1 "
              "AND hour >= {lo:DateTime('UTC')} AND hour < {hi:DateTime('UTC')} "
              + ("AND NOT has({dirty:Array(DateTime('UTC'))}, hour) " if dirty else "")
              + "AND NOT " + day_used.format(d="toStartOfDay(hour)") + ")"
              + (" OR (span_hours = 0 AND hour = {hi:DateTime('UTC')} AND open_until = {open_until:DateTime('UTC')})"
                 if open_until else ""))
    # Everything not rolled up, as plain time ranges: the skip index can prune ranges, not a NOT(...).
    raw_ranges = [(EPOCH, lo)] if lo > EPOCH else []
    raw_ranges += [(open_until or hi, datetime(2200, 1, 1, tzinfo=UTC))]
    raw_ranges += [(h, h + timedelta(hours=1)) for h in dirty if lo <= h < hi]
    range_params = {f"raw{i}_{end}": at for i, pair in enumerate(raw_ranges) for end, at in zip(("lo", "hi"), pair)}
    raw = f"{scope.where()} AND (" + " OR ".join(
        f"(ts_request >= {{raw{i}_lo:DateTime64(3, 'UTC')}} AND ts_request < {{raw{i}_hi:DateTime64(3, 'UTC')}})"
        for i in range(len(raw_ranges))) + ")"
    combine = ",\n    ".join(f"{how}({name}) AS {name}" for name, (_, how) in _FIELDS.items())
    sql = (f"SELECT challenger,\n    {combine}\nFROM (\n"
           f"SELECT {_COLUMNS} FROM {EVIDENCE_TABLE} FINAL WHERE {scope.where(None)} AND ({rolled})\n"
           f"UNION ALL\nSELECT {_COLUMNS} FROM ({_hourly_sql(raw)})\n)\nGROUP BY challenger ORDER BY challenger")
    dirty_days = sorted({day_floor(h) for h in dirty})
    return list(client.query(sql, parameters={**params, **range_params, "lo": lo, "hi": hi, "dirty": dirty,
                                              "dirty_days": dirty_days, "open_until": open_until or EPOCH},
                             settings=_READ_SETTINGS).named_results())


def _mean(total: float, n: int) -> float | None:
    return total / n if n else None


def _sd(total: float, squares: float, n: int) -> float | None:
    if n < 2:
        return None
    return max(0.0, (squares - total * total / n) / (n - 1)) ** 0.5


def gather_evidence(client: Client, scope: Scope, reference_similarity: float,
                    with_outcomes: bool = True, refresh: bool = True, rollup: bool = True,
                    judge_version: str = "",
                    calibrations: dict[str, JudgeCalibration] | None = None) -> list[ChallengerEvidence]:
    """Evidence for every non-control challenger in `scope` (give it one scorer version): the
    similarity side from shadow_scores, the judge's from shadow_judgments (`judge_version`, default
    the latest of the app).

    `refresh=False` reads without first rolling up newly closed hours (same answer, maybe slower);
    `rollup=False` ignores the rollup and reads every pair (same answer, slow: for checks).
    People's preferences come with the outcomes (`with_outcomes`); `calibrations` (judge version ->
    agreement with people, analytics/calibration.py) is attached to each challenger's evidence.
    """
    rows = _summary(client, scope, refresh and rollup, rollup)
    judge_version = judge_version or latest_judge_version(client, scope.app)
    quality, slices = gather_quality(client, scope, judge_version)
    people = gather_people(client, scope, judge_version) if with_outcomes else {}
    calibration = (calibrations or {}).get(judge_version)
    control = [r for r in rows if r["is_control"]]
    control_n = sum(r["sim_n"] for r in control)
    control_labels = {k: sum(r[k] for r in control) for k in ("label_n", "label_agree", "label_flips")}
    control_similarity = _mean(sum(r["sim_sum"] for r in control), control_n)
    evidence = []
    for r in rows:
        if r["is_control"]:
            continue
        if control_similarity is not None:
            paired_n, paired_mean = r["paired_n"], _mean(r["paired_sum"], r["paired_n"])
            paired_sd = _sd(r["paired_sum"], r["paired_sq"], r["paired_n"])
        else:  # no control: every similarity against a fixed reference
            paired_n, paired_mean = r["sim_n"], _mean(r["sim_sum"] - reference_similarity * r["sim_n"], r["sim_n"])
            paired_sd = _sd(r["sim_sum"], r["sim_sq"], r["sim_n"])
        evidence.append(ChallengerEvidence(
            challenger=r["challenger"], challenger_model=r["challenger_model"], scorer_version=scope.scorer_version,
            rows=r["rows"], ok=r["ok"], errors=r["errors"], mean_similarity=_mean(r["sim_sum"], r["sim_n"]),
            control_similarity=control_similarity, has_control=control_similarity is not None,
            refusal_n=r["refusal_n"], refusals=r["refusals"], flips=r["flips"],
            label_n=r["label_n"], label_agree=r["label_agree"], label_flips=r["label_flips"],
            control_label_n=control_labels["label_n"], control_label_agree=control_labels["label_agree"],
            control_label_flips=control_labels["label_flips"],
            p95_latency_delta_ms=nan_to_none(r["latency_delta_q"]),
            p95_challenger_latency_ms=nan_to_none(r["challenger_latency_q"]),
            p95_production_latency_ms=nan_to_none(r["production_latency_q"]),
            production_cost_usd=float(r["prod_cost"]), challenger_cost_usd=float(r["ch_cost"]),
            quality=quality.get(r["challenger"]), quality_slices=slices.get(r["challenger"], []),
            first_ts=r["first_ts"], last_ts=r["last_ts"],
            paired_n=int(paired_n), paired_mean=paired_mean, paired_sd=paired_sd,
            reference="control" if control_similarity is not None else f"fixed {reference_similarity:.2f}",
            outcome=outcome_comparison(client, scope, r["challenger"]) if with_outcomes else None,
            people=people.get(r["challenger"]), calibration=calibration,
        ))
    return evidence
