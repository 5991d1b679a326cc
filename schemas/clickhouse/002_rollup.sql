-- The rollup: the figures of schemas/clickhouse/figures.py as aggregate states per bucket of
-- ts_request, in three tiers (1-minute, 5-minute and 1-hour buckets), each split three ways: none
-- (route = tenant = '*'), by route (tenant = '*'), by route and tenant. Drift merges the states of
-- the coarsest tier whose buckets each fall inside one window (a week of 1-hour windows: 168
-- states per challenger, not 10,080). One materialized view feeds every tier (ARRAY JOIN).
--
-- At-least-once: a view sees every INSERT, even a block the table deduplicates, so a pair written
-- twice counts twice here. Right for dashboards, drift and alerts; decisions read the exact path
-- (shadow_scores FINAL, or its exact evidence rollup, 003).
-- Quantiles are t-digest states (quantileTiming's exact small histograms were measured and lost:
-- their fixed ~23 KB states cost more to merge). Small granules: a read of the open hour reads few.
CREATE TABLE IF NOT EXISTS shadow_scores_rollup
(
    app              LowCardinality(String),
    challenger       LowCardinality(String),
    scorer_version   LowCardinality(String),
    bucket_minutes   UInt16,
    route            LowCardinality(String),
    tenant           String,
    is_control       Bool,
    bucket           DateTime('UTC'),
    @FIGURE_STATE_COLUMNS@
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
ORDER BY (app, scorer_version, bucket_minutes, route, tenant, bucket, challenger, is_control)
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_rollup_mv TO shadow_scores_rollup AS
SELECT
    app, challenger, scorer_version,
    tier.1 AS bucket_minutes, if(tier.2 >= 1, route, '*') AS route, if(tier.2 = 2, tenant, '*') AS tenant, is_control,
    toDateTime(intDiv(toUInt32(toDateTime(ts_request)), bucket_minutes * 60) * (bucket_minutes * 60), 'UTC') AS bucket,
    @FIGURE_STATES@
FROM shadow_scores
ARRAY JOIN [(1, 0), (5, 0), (60, 0), (1, 1), (5, 1), (60, 1), (1, 2), (5, 2), (60, 2)] AS tier
GROUP BY app, challenger, scorer_version, bucket_minutes, route, tenant, is_control, bucket;

-- The last insert per 5 minutes of ts_request (a max: duplicates change nothing). Which finalized
-- hours got rows after their refresh (dirty) is read from here, not from shadow_scores.
CREATE TABLE IF NOT EXISTS shadow_scores_inserts_5m
(
    bucket         DateTime('UTC'),
    last_inserted  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_inserts_5m_mv TO shadow_scores_inserts_5m AS
SELECT toStartOfFiveMinutes(ts_request) AS bucket, max(inserted_at) AS last_inserted
FROM shadow_scores
GROUP BY bucket
