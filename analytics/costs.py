"""Cost reports (teacher/student monitoring): summary, daily trend over 7/30/90 days, hourly, the month's
spend so far and its projection, budget alerts (a budget per day or month, set at run time and kept in
Redis: analytics/cost_budget.py), top expensive requests.

Each (event, challenger) costs once. A call's cost does not depend on how it was scored, yet
`shadow_scores` holds one row per (event, challenger, scorer version), and a batch written twice
(at-least-once) holds its rows twice until a merge. So every part of the report reads the scored rows
reduced to one per (event_id, challenger) — the latest insert (argMax over inserted_at) — never the
rollup, which counts every scorer version and every duplicate insert.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import Scope
from schemas.clickhouse import SCORES_TABLE
from schemas.settings import Settings

__all__ = ["CostLine", "ExpensiveRequest", "BudgetAlert", "MonthSpend", "CostReport", "cost_report", "month_spend"]


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
    day: datetime  # the day, or the month's first day for a monthly budget
    challenger_cost_usd: float
    budget_usd: float
    message: str
    period: str = "day"


class MonthSpend(BaseModel):
    """Challenger spend of the calendar month (UTC) so far, and where it ends at this pace."""

    month: datetime
    spent_usd: float
    elapsed_days: float
    days_in_month: int
    projected_usd: float
    by_challenger: dict[str, float]


class CostReport(BaseModel):
    summary: list[CostLine]
    trend: list[CostLine]  # per day
    hourly: list[CostLine]
    top_expensive: list[ExpensiveRequest]
    budget_alerts: list[BudgetAlert]
    days: int | None = None  # the trend's window; None: everything in the scope
    month: MonthSpend | None = None
    budget_usd: float | None = None
    budget_period: str = "day"


def _calls(scope: Scope) -> str:
    """One row per (event_id, challenger) in scope: the latest insert of any scorer version (or of the one
    the scope names). Pair with `scope.params()`."""
    return (
        "SELECT event_id, challenger, argMax(route, inserted_at) AS route, "
        "argMax(ts_request, inserted_at) AS ts_request, argMax(status, inserted_at) AS status, "
        "argMax(production_cost_usd, inserted_at) AS production_cost_usd, "
        "argMax(challenger_cost_usd, inserted_at) AS challenger_cost_usd, "
        "argMax(cost_delta_usd, inserted_at) AS cost_delta_usd, "
        "argMax(challenger_prompt_tokens + challenger_completion_tokens, inserted_at) AS challenger_tokens "
        # The table's own column: the alias above (a per-call argMax) may not be filtered in WHERE.
        f"FROM {SCORES_TABLE} WHERE {scope.where(f'{SCORES_TABLE}.ts_request')} GROUP BY event_id, challenger")


def _lines(client: Client, scope: Scope, bucket: str | None) -> list[CostLine]:
    period = f"{bucket}(ts_request) AS period, " if bucket else ""
    group = "challenger, period" if bucket else "challenger"
    result = client.query(
        f"SELECT challenger, {period}count() AS n, sum(production_cost_usd) AS p, sum(challenger_cost_usd) AS c, "
        f"sum(cost_delta_usd) AS d, countIf(status = 'ok') AS ok FROM ({_calls(scope)}) "
        f"GROUP BY {group} ORDER BY {group}", parameters=scope.params())
    lines = []
    for r in result.named_results():
        period_value = r.get("period")
        if isinstance(period_value, datetime) and period_value.tzinfo is None:
            period_value = period_value.replace(tzinfo=UTC)
        lines.append(CostLine(challenger=r["challenger"], period=period_value, requests=r["n"],
                              production_cost_usd=r["p"], challenger_cost_usd=r["c"], cost_delta_usd=r["d"],
                              challenger_cost_per_request=r["c"] / r["ok"] if r["ok"] else 0.0,
                              savings_ratio=1 - r["c"] / r["p"] if r["p"] else None))
    return lines


def month_spend(client: Client, scope: Scope, now: datetime | None = None) -> MonthSpend:
    now = now or datetime.now(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    month_scope = scope.model_copy(update={"since": start, "until": None})
    by = {line.challenger: line.challenger_cost_usd for line in _lines(client, month_scope, None)}
    spent = sum(by.values())
    elapsed = max((now - start).total_seconds() / 86400, 1 / 24)  # an hour at least: no projection from seconds
    return MonthSpend(month=start, spent_usd=spent, elapsed_days=elapsed, days_in_month=days,
                      projected_usd=spent / elapsed * days, by_challenger=by)


def cost_report(client: Client, settings: Settings, scope: Scope, top: int = 10, days: int | None = None,
                budget_usd: float | None = None, budget_period: str | None = None,
                now: datetime | None = None) -> CostReport:
    """`days`: trend, hourly and top requests over the last N days (7, 30, 90…); the budget defaults to
    SHADOW_COST_BUDGET_USD_PER_DAY / SHADOW_COST_BUDGET_PERIOD (the CLI and API pass the one kept in Redis)."""
    now = now or datetime.now(UTC)
    if days is not None:
        scope = scope.model_copy(update={"since": (now - timedelta(days=days)).replace(hour=0, minute=0, second=0,
                                                                                       microsecond=0)})
    trend = _lines(client, scope, "toStartOfDay")
    top_rows = client.query(
        "SELECT event_id, challenger, route, ts_request, challenger_cost_usd, production_cost_usd, challenger_tokens "
        f"FROM ({_calls(scope)}) ORDER BY challenger_cost_usd DESC, event_id, challenger LIMIT {{top:UInt32}}",
        parameters={**scope.params(), "top": top})
    budget = settings.cost_budget_usd_per_day if budget_usd is None else budget_usd
    period = budget_period or settings.cost_budget_period
    month = month_spend(client, scope, now)
    alerts = []
    if budget is not None and period == "month":
        if month.spent_usd > budget:
            alerts.append(BudgetAlert(day=month.month, challenger_cost_usd=month.spent_usd, budget_usd=budget,
                                      period="month",
                                      message=f"challenger spend ${month.spent_usd:.4f} in {month.month:%Y-%m} is over "
                                              f"the monthly budget ${budget:.4f}"))
    elif budget is not None:
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
        budget_alerts=alerts, days=days, month=month, budget_usd=budget, budget_period=period)
