-- Exact promotion evidence per closed hour (span_hours = 1) and per closed day (span_hours = 24,
-- merged from its hours), so gates read a few dozen small rows instead of every pair. Rows are computed from shadow_scores FINAL (each pair once, the paired join with the
-- control included) by analytics/evidence.py, never by a materialized view: a view would see
-- re-sent duplicates and could not pair a challenger with a control written in another batch.
-- A recomputed hour replaces the earlier row (latest computed_at wins): read with FINAL.
CREATE TABLE IF NOT EXISTS shadow_evidence_hourly
(
    app                    LowCardinality(String),
    scorer_version         LowCardinality(String),
    challenger             LowCardinality(String),
    span_hours             UInt8,
    hour                   DateTime('UTC'),
    challenger_model       String,
    is_control             Bool,
    rows                   UInt64,
    ok                     UInt64,
    errors                 UInt64,
    sim_n                  UInt64,
    sim_sum                Float64,
    sim_sq                 Float64,
    refusal_n              UInt64,
    refusals               UInt64,
    flips                  UInt64,
    production_cost_usd    Float64,
    challenger_cost_usd    Float64,
    judge_n                UInt64,
    judge_sum              Float64,
    faith_n                UInt64,
    faith_sum              Float64,
    first_ts               DateTime64(3, 'UTC'),
    last_ts                DateTime64(3, 'UTC'),
    paired_n               UInt64,
    paired_sum             Float64,
    paired_sq              Float64,
    latency_delta_q        AggregateFunction(quantileTDigest(0.95), Nullable(Float64)),
    challenger_latency_q   AggregateFunction(quantileTDigest(0.95), Nullable(Float64)),
    production_latency_q   AggregateFunction(quantileTDigest(0.95), Float64),
    computed_at            DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(hour)
ORDER BY (app, scorer_version, span_hours, hour, challenger)
-- Small granules: a read skips the hours its days cover instead of deserializing their states.
SETTINGS index_granularity = 64;

-- Hours below `watermark` are rolled up as of `refreshed_at` (server time when that refresh began);
-- a row inserted since then into an hour below the watermark marks that hour dirty, and readers
-- take it from shadow_scores instead until the next refresh.
CREATE TABLE IF NOT EXISTS shadow_evidence_watermark
(
    id            UInt8,
    watermark     DateTime('UTC'),
    refreshed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY id;

-- Finding dirty hours (rows inserted since the last refresh) and the open tail (rows after the
-- watermark) must not scan the table: min/max per granule lets ClickHouse skip old parts.
ALTER TABLE shadow_scores ADD INDEX IF NOT EXISTS idx_inserted_at inserted_at TYPE minmax GRANULARITY 1;
ALTER TABLE shadow_scores ADD INDEX IF NOT EXISTS idx_ts_request ts_request TYPE minmax GRANULARITY 1;
ALTER TABLE shadow_scores MATERIALIZE INDEX idx_inserted_at;
ALTER TABLE shadow_scores MATERIALIZE INDEX idx_ts_request
