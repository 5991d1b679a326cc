-- Per-minute aggregates of shadow_scores per (app, challenger, scorer_version, route, tenant,
-- is_control), kept as -State values so any window (5 min, 1 h, a day, sliding) is a -Merge away and
-- dashboards never scan raw rows.
--
-- Duplicates: a materialized view sees every INSERT, and shadow_scores may receive the same
-- (challenger, scorer_version, event_id) twice (at-least-once delivery); ReplacingMergeTree removes
-- the copy in the table, but not here. These aggregates are therefore at-least-once figures for
-- dashboards and alerts; promotion gates, readiness and statistical tests read shadow_scores FINAL
-- (the exact path, analytics/evidence.py), and `drift --exact` does too.
CREATE TABLE IF NOT EXISTS shadow_scores_minute
(
    app              LowCardinality(String),
    challenger       LowCardinality(String),
    scorer_version   LowCardinality(String),
    route            LowCardinality(String),
    tenant           String,
    is_control       Bool,
    minute           DateTime('UTC'),
    @FIGURE_STATE_COLUMNS@
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (app, challenger, scorer_version, minute, route, tenant, is_control);

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_minute_mv TO shadow_scores_minute AS
SELECT
    app, challenger, scorer_version, route, tenant, is_control,
    toStartOfMinute(ts_request) AS minute,
    @FIGURE_STATES@
FROM shadow_scores
GROUP BY app, challenger, scorer_version, route, tenant, is_control, minute;
