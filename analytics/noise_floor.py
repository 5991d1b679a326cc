"""Noise floor: each challenger's similarity next to the production model's agreement with itself.

A control challenger (`is_control`: the production model asked again) shows how similar two answers
of the *same* model are; a challenger is judged against that floor, not against 1.0 (Diffy). Per
(app, route), for one scorer version (similarities of different versions are not comparable).
"""

from __future__ import annotations

import math
from datetime import datetime

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from schemas.clickhouse import SCORES_TABLE

__all__ = ["NoiseFloorRow", "noise_floor"]


class NoiseFloorRow(BaseModel):
    app: str
    route: str
    challenger: str
    is_control: bool
    scorer_version: str
    n: int
    mean_similarity: float
    stddev_similarity: float | None
    control_n: int  # 0 when no control ran on this route
    control_mean_similarity: float | None
    gap: float | None  # mean_similarity − control_mean_similarity (negative = below the floor)
    gap_stderr: float | None  # standard error of the gap (Welch), for "within noise?" judgements


# FINAL: a pair written twice counts once. Only answered pairs with a similarity.
_SQL = f"""
SELECT app, route, challenger, is_control, count() AS n, avg(similarity) AS mean_sim,
       stddevSampStable(similarity) AS sd
FROM {SCORES_TABLE} FINAL
WHERE status = 'ok' AND similarity IS NOT NULL
  AND scorer_version = {{scorer_version:String}}
  AND ({{app:String}} = '' OR app = {{app:String}})
  AND ts_request >= {{since:DateTime64(3, 'UTC')}}
GROUP BY app, route, challenger, is_control
ORDER BY app, route, is_control DESC, challenger
"""

def _num(value: object) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def noise_floor(client: Client, scorer_version: str, app: str = "",
                since: datetime | None = None) -> list[NoiseFloorRow]:
    """One row per (app, route, challenger); the control's own row has gap 0 against itself."""
    rows = client.query(_SQL, parameters={"scorer_version": scorer_version, "app": app,
                                          "since": since or datetime(1970, 1, 1)}).result_rows
    control: dict[tuple[str, str], tuple[int, float, float | None]] = {}
    for app_, route, _challenger, is_control, n, mean, sd in rows:
        if not is_control:
            continue
        # several controls on a route: pool them (weighted mean; sd of the pooled set approximated)
        prev = control.get((app_, route))
        if prev is None:
            control[(app_, route)] = (int(n), float(mean), _num(sd))
        else:
            total = prev[0] + int(n)
            control[(app_, route)] = (total, (prev[1] * prev[0] + float(mean) * int(n)) / total,
                                      max(v for v in (prev[2], _num(sd), 0.0) if v is not None))
    out = []
    for app_, route, challenger, is_control, n, mean, sd in rows:
        c_n, c_mean, c_sd = control.get((app_, route), (0, None, None))
        sd_f = _num(sd)
        gap = None if c_mean is None else float(mean) - c_mean
        stderr = (math.sqrt(sd_f**2 / n + c_sd**2 / c_n)
                  if gap is not None and sd_f is not None and c_sd is not None and n and c_n else None)
        out.append(NoiseFloorRow(app=app_, route=route, challenger=challenger, is_control=bool(is_control),
                                 scorer_version=scorer_version, n=int(n), mean_similarity=float(mean),
                                 stddev_similarity=sd_f, control_n=c_n, control_mean_similarity=c_mean,
                                 gap=gap, gap_stderr=stderr))
    return out
