"""Windowed drift per challenger: how far answers move from production, window by window."""

from __future__ import annotations

from datetime import datetime

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import one_scorer_version
from schemas.clickhouse import SCORES_TABLE

__all__ = ["DriftWindow", "drift_windows", "scored_rows"]


class DriftWindow(BaseModel):
    challenger: str
    scorer_version: str  # the one version the window was computed from
    window_start: datetime
    rows: int
    ok: int
    mean_similarity: float | None
    mean_delta_s: float | None  # ΔS = 1 − similarity, the mirroring playbook's drift figure
    p95_latency_delta_ms: float | None
    error_rate: float
    cost_delta_usd: float


# FINAL: a pair written twice (at-least-once delivery) counts once.
_DRIFT_SQL = f"""
SELECT
    challenger,
    toStartOfInterval(ts_request, toIntervalMinute({{minutes:UInt32}})) AS window_start,
    count() AS rows,
    countIf(status = 'ok') AS ok,
    avgIf(similarity, status = 'ok') AS mean_similarity,
    quantileExactIf(0.95)(latency_delta_ms, status = 'ok') AS p95_latency_delta_ms,
    countIf(status IN ('error', 'timeout')) / count() AS error_rate,
    sum(cost_delta_usd) AS cost_delta_usd
FROM {SCORES_TABLE} FINAL
WHERE ({{app:String}} = '' OR app = {{app:String}})
  AND scorer_version = {{scorer_version:String}}
GROUP BY challenger, window_start
ORDER BY challenger, window_start
"""


def _nan_to_none(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)


def drift_windows(client: Client, minutes: int = 5, app: str = "",
                  scorer_version: str | list[str] = "") -> list[DriftWindow]:
    """Windows of one scorer version: the one asked for, else the latest of `app` (never a mix)."""
    version = one_scorer_version(client, app, scorer_version)
    result = client.query(_DRIFT_SQL, parameters={"minutes": minutes, "app": app, "scorer_version": version})
    windows = []
    for row in result.named_results():
        similarity = _nan_to_none(row["mean_similarity"])
        windows.append(DriftWindow(
            challenger=row["challenger"], scorer_version=version, window_start=row["window_start"], rows=row["rows"],
            ok=row["ok"],
            mean_similarity=similarity, mean_delta_s=None if similarity is None else 1.0 - similarity,
            p95_latency_delta_ms=_nan_to_none(row["p95_latency_delta_ms"]),
            error_rate=float(row["error_rate"]), cost_delta_usd=float(row["cost_delta_usd"]),
        ))
    return windows


def scored_rows(client: Client, app: str = "") -> dict[str, int]:
    """Distinct scored (event, challenger) pairs per challenger."""
    result = client.query(
        f"SELECT challenger, count() FROM {SCORES_TABLE} FINAL "
        "WHERE ({app:String} = '' OR app = {app:String}) GROUP BY challenger",
        parameters={"app": app},
    )
    return {challenger: int(n) for challenger, n in result.result_rows}
