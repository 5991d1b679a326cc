-- Coarser tiers of the per-minute aggregates (002/007): 5-minute and 1-hour buckets, each split
-- three ways: none (route = tenant = '*'), by route (tenant = '*'), by route and tenant. A week of 1-hour windows then merges
-- 168 states per challenger instead of 10,080; drift picks the coarsest tier that divides its window
-- and step (analytics/windows.py). One materialized view feeds every tier (ARRAY JOIN over tiers).
-- Quantiles are t-digest states as in 002: quantileTiming (exact small histograms) was measured too,
-- but its fixed ~23 KB states cost more to read and merge at 5-minute buckets than t-digest's.
-- Same at-least-once caveat as 002: gates read the exact path.
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
-- challenger last: drift filters it only sometimes, and an unfiltered key column stops the index.
ORDER BY (app, scorer_version, bucket_minutes, route, tenant, bucket, challenger, is_control)
-- Small granules: a query for the open hour then deserializes a few hundred states, not thousands.
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_rollup_mv TO shadow_scores_rollup AS
SELECT
    app, challenger, scorer_version,
    tier.1 AS bucket_minutes, if(tier.2 >= 1, route, '*') AS route, if(tier.2 = 2, tenant, '*') AS tenant, is_control,
    toDateTime(intDiv(toUInt32(toDateTime(ts_request)), bucket_minutes * 60) * (bucket_minutes * 60), 'UTC') AS bucket,
    @FIGURE_STATES@
FROM shadow_scores
ARRAY JOIN [(5, 0), (60, 0), (5, 1), (60, 1), (5, 2), (60, 2)] AS tier
GROUP BY app, challenger, scorer_version, bucket_minutes, route, tenant, is_control, bucket;

-- Rows scored before 012 existed, aggregated once from the deduplicated table (see 003).
INSERT INTO shadow_scores_rollup
SELECT
    app, challenger, scorer_version,
    tier.1 AS bucket_minutes, if(tier.2 >= 1, route, '*') AS route, if(tier.2 = 2, tenant, '*') AS tenant, is_control,
    toDateTime(intDiv(toUInt32(toDateTime(ts_request)), bucket_minutes * 60) * (bucket_minutes * 60), 'UTC') AS bucket,
    @FIGURE_STATES@
FROM shadow_scores FINAL
ARRAY JOIN [(5, 0), (60, 0), (5, 1), (60, 1), (5, 2), (60, 2)] AS tier
GROUP BY app, challenger, scorer_version, bucket_minutes, route, tenant, is_control, bucket;
