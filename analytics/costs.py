"""Cost reports (teacher/student monitoring): summary, daily trend, hourly, budget alerts, top expensive.

Summary, trend and hourly merge the per-minute view (at-least-once); top expensive reads raw rows FINAL.
"""

from __future__ import annotations

from datetime import datetime

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import Scope
from analytics.windows import CHALLENGER_MINUTE_VIEW
from schemas.clickhouse import SCORES_TABLE
from schemas.settings import Settings

__all__ = ["CostLine", "ExpensiveRequest", "BudgetAlert", "CostReport", "cost_report"]


class CostLine(BaseModel):
    challenger: str
    period: datetime | None = None  # None in the summary
    requests: int
    production_cost_usd: float
    challenger_cost_usd: float
    cost_delta_usd: float
    challenger_cost_per_request: float
    savings_ratio: float | None  # 1 − challenger / production


class ExpensiveRequest(BaseModel):
    event_id: str
    challenger: str
    route: str
    ts_request: datetime
    challenger_cost_usd: float
    production_cost_usd: float
    challenger_tokens: int


class BudgetAlert(BaseModel):
    day: datetime
    challenger_cost_usd: float
    budget_usd: float
    message: str


class CostReport(BaseModel):
    summary: list[CostLine]
    trend: list[CostLine]  # per day
    hourly: list[CostLine]
    top_expensive: list[ExpensiveRequest]
    budget_alerts: list[BudgetAlert]


def _lines(client: Client, scope: Scope, bucket: str | None) -> list[CostLine]:
    period = f"{bucket}(minute) AS period, " if bucket else ""
    group = "challenger, period" if bucket else "challenger"
    result = client.query(
        f"SELECT challenger, {period}countMerge(rows) AS n, sumMerge(prod_cost) AS p, sumMerge(ch_cost) AS c, "
        f"sumMerge(delta_cost) AS d, countIfMerge(ok) AS ok FROM {CHALLENGER_MINUTE_VIEW} WHERE {scope.where('minute')} "
        f"GROUP BY {group} ORDER BY {group}", parameters=scope.params())
    lines = []
    for r in result.named_results():
        lines.append(CostLine(challenger=r["challenger"], period=r.get("period"), requests=r["n"],
                              production_cost_usd=r["p"], challenger_cost_usd=r["c"], cost_delta_usd=r["d"],
                              challenger_cost_per_request=r["c"] / r["ok"] if r["ok"] else 0.0,
                              savings_ratio=1 - r["c"] / r["p"] if r["p"] else None))
    return lines


def cost_report(client: Client, settings: Settings, scope: Scope, top: int = 10) -> CostReport:
    trend = _lines(client, scope, "toStartOfDay")
    top_rows = client.query(
        f"SELECT event_id, challenger, route, ts_request, challenger_cost_usd, production_cost_usd, "
        f"challenger_prompt_tokens + challenger_completion_tokens FROM {SCORES_TABLE} FINAL WHERE {scope.where()} "
        "ORDER BY challenger_cost_usd DESC, event_id LIMIT {top:UInt32}", parameters={**scope.params(), "top": top})
    budget = settings.cost_budget_usd_per_day
    alerts = []
    if budget is not None:
        per_day: dict[datetime, float] = {}
        for line in trend:
            per_day[line.period] = per_day.get(line.period, 0.0) + line.challenger_cost_usd
        alerts = [BudgetAlert(day=day, challenger_cost_usd=spent, budget_usd=budget,
                              message=f"challenger spend ${spent:.4f} on {day:%Y-%m-%d} is over the daily budget ${budget:.4f}")
                  for day, spent in sorted(per_day.items()) if spent > budget]
    return CostReport(
        summary=_lines(client, scope, None), trend=trend, hourly=_lines(client, scope, "toStartOfHour"),
        top_expensive=[ExpensiveRequest(event_id=r[0], challenger=r[1], route=r[2], ts_request=r[3],
                                        challenger_cost_usd=r[4], production_cost_usd=r[5], challenger_tokens=r[6])
                       for r in top_rows.result_rows],
        budget_alerts=alerts)
