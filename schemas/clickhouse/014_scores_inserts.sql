-- When each hour of shadow_scores (by ts_request) last received a row. The finalized tables
-- (evidence rollup 011, drift figures 013) ask on every read which closed hours got rows since their
-- refresh (dirty hours, analytics/watermarks.py): these few rows answer it, where the inserted_at
-- skip index of shadow_scores had to be read across every part (10-20 ms at 10 M rows).
-- A max is idempotent: a row counted twice (re-sent, or inserted while the backfill below runs)
-- changes nothing.
CREATE TABLE IF NOT EXISTS shadow_scores_inserts
(
    hour           DateTime('UTC'),
    last_inserted  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY hour;

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_inserts_mv TO shadow_scores_inserts AS
SELECT toStartOfHour(ts_request) AS hour, max(inserted_at) AS last_inserted
FROM shadow_scores
GROUP BY hour;

INSERT INTO shadow_scores_inserts
SELECT toStartOfHour(ts_request) AS hour, max(inserted_at) AS last_inserted
FROM shadow_scores
GROUP BY hour;
