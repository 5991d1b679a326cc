-- Closed time, computed once: what a read would otherwise recompute on every query. Each table is
-- filled by a refresh (analytics/evidence.py, analytics/drift_figures.py) up to its watermark, a
-- row of shadow_watermarks; a recomputed row replaces the earlier one (latest computed_at wins:
-- read with FINAL).

-- Exact promotion evidence per closed hour (span_hours = 1), per closed day (24, merged from its
-- hours) and for the open hour's closed 5-minute part (0, keyed by its bound open_until, kept a day).
-- Computed from shadow_scores FINAL (each pair once, the paired join with the control included),
-- never by a materialized view: a view would see re-sent duplicates and could not pair a challenger
-- with a control written in another batch.
CREATE TABLE IF NOT EXISTS shadow_evidence_hourly
(
    app                    LowCardinality(String),
    scorer_version         LowCardinality(String),
    challenger             LowCardinality(String),
    span_hours             UInt8,
    hour                   DateTime('UTC'),
    open_until             DateTime('UTC'),
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
    label_n                UInt64,
    label_agree            UInt64,
    label_flips            UInt64,
    prod_cost              Float64,
    ch_cost                Float64,
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
ORDER BY (app, scorer_version, span_hours, hour, challenger, open_until)
TTL hour + toIntervalDay(1) DELETE WHERE span_hours = 0
SETTINGS index_granularity = 64;

-- Drift figures of closed windows (the merged figures of the rollup, see figures.py), unsplit
-- (route = '*') and by route, keyed by window length, phase (minutes past the length's grid the
-- window starts at) and start: 5-minute windows every 5 minutes, 1-hour windows every 5 minutes
-- (a tumbling hour reads phase 0; hours sliding by 15 minutes read phases 0, 15, 30, 45).
CREATE TABLE IF NOT EXISTS shadow_drift_figures
(
    app              LowCardinality(String),
    scorer_version   LowCardinality(String),
    bucket_minutes   UInt16,
    route            LowCardinality(String),
    tenant           String,
    bucket           DateTime('UTC'),
    challenger       LowCardinality(String),
    @FIGURE_COLUMNS@,
    computed_at      DateTime64(3, 'UTC'),
    phase            UInt16 MATERIALIZED toUInt16(intDiv(toUnixTimestamp(bucket) % (bucket_minutes * 60), 60))
)
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(bucket)
ORDER BY (app, scorer_version, bucket_minutes, route, tenant, phase, bucket, challenger)
SETTINGS index_granularity = 1024;

-- One row per finalized table (analytics/watermarks.py): 0 evidence, 1 drift figures, 2 the
-- evidence's open hour. Below `watermark` that table is final, as of `refreshed_at` (server time
-- when the refresh began). No row yet: the epoch (nothing final).
CREATE TABLE IF NOT EXISTS shadow_watermarks
(
    id            UInt8,
    watermark     DateTime('UTC'),
    refreshed_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(refreshed_at)
ORDER BY id
