-- The same per-minute aggregates without the route and tenant split: one row per challenger and
-- minute, so challenger-level drift, alerts and cost reports merge ~(routes x tenants) fewer states.
-- Same at-least-once caveat as 002.
CREATE TABLE IF NOT EXISTS shadow_scores_minute_challenger
(
    app              LowCardinality(String),
    challenger       LowCardinality(String),
    scorer_version   LowCardinality(String),
    is_control       Bool,
    minute           DateTime('UTC'),
    @FIGURE_STATE_COLUMNS@
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (app, challenger, scorer_version, minute, is_control);

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_minute_challenger_mv TO shadow_scores_minute_challenger AS
SELECT
    app, challenger, scorer_version, is_control,
    toStartOfMinute(ts_request) AS minute,
    @FIGURE_STATES@
FROM shadow_scores
GROUP BY app, challenger, scorer_version, is_control, minute;
