-- Finalized drift figures of closed 5-minute and 1-hour rollup buckets (012), per challenger, unsplit
-- and split by route. Merging a bucket's t-digest states costs ~25-40 µs per state; a tumbling drift
-- query whose window is one bucket reads these plain numbers instead, and merges states only for the
-- open tail and for hours that received rows after their refresh (analytics/drift_figures.py).
-- Values are the -Merge results of 012's states, so they equal what a state merge returns.
CREATE TABLE IF NOT EXISTS shadow_drift_figures
(
    app              LowCardinality(String),
    scorer_version   LowCardinality(String),
    bucket_minutes   UInt16,
    route            LowCardinality(String),
    tenant           String,
    bucket           DateTime('UTC'),
    challenger       LowCardinality(String),
    rows             UInt64,
    ok               UInt64,
    errors           UInt64,
    sim_n            UInt64,
    sim_sum          Float64,
    sim_sq           Float64,
    sim_q            Array(Float32),
    lat_n            UInt64,
    lat_sum          Float64,
    lat_q            Array(Float32),
    prod_lat_q       Array(Float32),
    ch_lat_q         Array(Float32),
    refusal_n        UInt64,
    refusals         UInt64,
    flips            UInt64,
    exact_matches    UInt64,
    judge_n          UInt64,
    judge_sum        Float64,
    prod_cost        Float64,
    ch_cost          Float64,
    delta_cost       Float64,
    ch_tokens        UInt64,
    computed_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(bucket)
ORDER BY (app, scorer_version, bucket_minutes, route, tenant, bucket, challenger)
SETTINGS index_granularity = 1024
