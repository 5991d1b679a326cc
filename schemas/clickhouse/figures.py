"""The figures catalogue: each per-window figure of the scores, defined once.

A figure is one aggregate over shadow_scores rows, e.g. `sim_sum`, the sum of similarity over the
answered pairs. Every form a reader or a migration needs comes from its one definition here:

  state     the column of the rollup (an AggregatingMergeTree) and the -State expression its
            materialized view fills it with: a migration writes @FIGURE_STATE_COLUMNS@ and
            @FIGURE_STATES@, and migrate() puts these in (the catalogue of the day it runs);
  merge     how drift combines the states of the buckets inside a window (-Merge);
  exact     the same aggregate over shadow_scores FINAL rows (drift --exact, the evidence rollup);
  stored    the merged value of a closed window in shadow_drift_figures (@FIGURE_COLUMNS@).

FINISHED then defines, from these names, each figure a drift window shows (means, rates, quantiles).

Python rather than SQL files as the one source: the forms differ by a combinator and a type, which a
few lines of Python derive, where SQL files would repeat each figure once per form (they did: seven
places for `sim_sum`). Adding a figure: one line in FIGURES and a migration (1NN) that adds its
columns to shadow_scores_rollup and shadow_drift_figures and recreates the rollup's view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Figure", "FIGURES", "FINISHED", "state_columns_sql", "states_sql", "stored_columns_sql"]


@dataclass(frozen=True)
class Figure:
    name: str
    function: Literal["count", "sum", "quantiles"]
    value: str = ""  # the aggregated expression over shadow_scores columns ('' for a count)
    when: str = ""  # only rows where this holds ('' = every row)
    value_type: Literal["Float64", "UInt64"] = "Float64"
    levels: tuple[float, ...] = ()  # quantiles only

    def _function(self, quantiles: str) -> str:
        name = f"quantiles{quantiles}" if self.function == "quantiles" else self.function
        return name + ("If" if self.when else "")

    def _levels(self) -> str:
        return f"({', '.join(map(str, self.levels))})" if self.levels else ""

    def _args(self, when: str) -> str:
        return ", ".join(arg for arg in (self.value, when) if arg)

    @property
    def state_type(self) -> str:
        types = [self.value_type] if self.value else []
        types += ["UInt8"] if self.when else []
        return f"AggregateFunction({', '.join([self._function('TDigest') + self._levels(), *types])})"

    @property
    def state(self) -> str:
        when = f"toUInt8({self.when})" if self.when else ""
        return f"{self._function('TDigest')}State{self._levels()}({self._args(when)})"

    @property
    def merge(self) -> str:
        return f"{self._function('TDigest')}Merge{self._levels()}({self.name})"

    @property
    def exact(self) -> str:
        # Exact quantiles: quantilesExactInclusive, numpy's default ('linear') percentile.
        return f"{self._function('ExactInclusive')}{self._levels()}({self._args(self.when)})"

    @property
    def stored_type(self) -> str:
        return {"count": "UInt64", "sum": self.value_type, "quantiles": "Array(Float32)"}[self.function]


_ANSWERED = "status = 'ok' AND similarity IS NOT NULL"
_TIMED = "status = 'ok' AND latency_delta_ms IS NOT NULL"
_SIMILARITY = "ifNull(similarity, 0.)"

FIGURES: dict[str, Figure] = {f.name: f for f in (
    Figure("rows", "count"),
    Figure("ok", "count", when="status = 'ok'"),
    Figure("errors", "count", when="status IN ('error', 'timeout')"),
    Figure("sim_n", "count", when=_ANSWERED),
    Figure("sim_sum", "sum", _SIMILARITY, _ANSWERED),
    Figure("sim_sq", "sum", f"{_SIMILARITY} * {_SIMILARITY}", _ANSWERED),
    Figure("sim_q", "quantiles", _SIMILARITY, _ANSWERED, levels=(0.05, 0.5, 0.95)),
    Figure("lat_n", "count", when=_TIMED),
    Figure("lat_sum", "sum", "ifNull(latency_delta_ms, 0.)", _TIMED),
    Figure("lat_q", "quantiles", "ifNull(latency_delta_ms, 0.)", _TIMED, levels=(0.5, 0.95, 0.99)),
    Figure("prod_lat_q", "quantiles", "production_latency_ms", levels=(0.5, 0.95, 0.99)),
    Figure("ch_lat_q", "quantiles", "ifNull(challenger_latency_ms, 0.)",
           "status = 'ok' AND challenger_latency_ms IS NOT NULL", levels=(0.5, 0.95, 0.99)),
    Figure("refusal_n", "count", when="refusal_challenger IS NOT NULL"),
    Figure("refusals", "count", when="ifNull(refusal_challenger, false)"),
    # answers where the refusal verdict differs between production and the challenger
    Figure("flips", "count", when="ifNull(refusal_production != refusal_challenger, false)"),
    Figure("exact_matches", "count", when="ifNull(exact_match, false)"),
    Figure("prod_cost", "sum", "production_cost_usd"),
    Figure("ch_cost", "sum", "challenger_cost_usd"),
    Figure("delta_cost", "sum", "cost_delta_usd"),
    Figure("ch_tokens", "sum", "toUInt64(challenger_prompt_tokens + challenger_completion_tokens)", value_type="UInt64"),
)}


def _finite(x: str) -> str:
    return f"if(isFinite(toFloat64({x})), toFloat64({x}), NULL)"  # an empty digest answers nan


def _ratio(a: str, b: str) -> str:
    return f"if({b} > 0, {a} / {b}, NULL)"


_MEAN_SIM = _ratio("sim_sum", "sim_n")
_P05_SIM = f"if(sim_n > 0, {_finite('sim_q[1]')}, NULL)"
_P95_PROD, _P95_CH = _finite("prod_lat_q[2]"), f"if(ok > 0, {_finite('ch_lat_q[2]')}, NULL)"
# What a drift window shows, from the figures above (computed in SQL: with thousands of windows,
# doing it row by row in Python cost more than the query).
FINISHED: dict[str, str] = {
    "rows": "rows",
    "ok": "ok",
    "errors": "errors",
    "error_rate": "if(rows > 0, errors / rows, 0.)",
    "mean_similarity": _MEAN_SIM,
    "sd_similarity": f"if(sim_n > 1, sqrt(greatest((sim_sq - sim_n * pow({_MEAN_SIM}, 2)) / (sim_n - 1), 0.)), NULL)",
    "p05_similarity": _P05_SIM,
    "p50_similarity": f"if(sim_n > 0, {_finite('sim_q[2]')}, NULL)",
    "p95_similarity": f"if(sim_n > 0, {_finite('sim_q[3]')}, NULL)",
    "mean_delta_s": f"1 - {_MEAN_SIM}",  # ΔS = 1 − similarity
    "p95_delta_s": f"1 - {_P05_SIM}",
    "mean_latency_delta_ms": _ratio("lat_sum", "lat_n"),
    "p50_latency_delta_ms": f"if(lat_n > 0, {_finite('lat_q[1]')}, NULL)",
    "p95_latency_delta_ms": f"if(lat_n > 0, {_finite('lat_q[2]')}, NULL)",
    "p99_latency_delta_ms": f"if(lat_n > 0, {_finite('lat_q[3]')}, NULL)",
    "p95_production_latency_ms": _P95_PROD,
    "p95_challenger_latency_ms": _P95_CH,
    "p95_latency_increase": f"if({_P95_PROD} != 0, {_P95_CH} / {_P95_PROD} - 1, NULL)",
    "refusal_rate": _ratio("refusals", "refusal_n"),
    "flips": "flips",
    "flip_rate": _ratio("flips", "refusal_n"),
    "exact_match_rate": _ratio("exact_matches", "ok"),
    "production_cost_usd": "toFloat64(prod_cost)",
    "challenger_cost_usd": "toFloat64(ch_cost)",
    "cost_delta_usd": "toFloat64(delta_cost)",
    "challenger_tokens": "ch_tokens",
}


def state_columns_sql() -> str:
    """The rollup's aggregate columns (@FIGURE_STATE_COLUMNS@)."""
    return ",\n    ".join(f"{f.name} {f.state_type}" for f in FIGURES.values())


def states_sql() -> str:
    """The -State expressions over shadow_scores rows that fill them (@FIGURE_STATES@)."""
    return ",\n    ".join(f"{f.state} AS {f.name}" for f in FIGURES.values())


def stored_columns_sql() -> str:
    """The finalized figures' columns (@FIGURE_COLUMNS@)."""
    return ",\n    ".join(f"{f.name} {f.stored_type}" for f in FIGURES.values())
