-- Alert transitions (firing / cleared). Evaluation is a pure replay of the window series, so the
-- same transition found twice is one row after merges: read with FINAL.
CREATE TABLE IF NOT EXISTS shadow_alerts
(
    app           LowCardinality(String),
    challenger    String,
    dimension     String,
    rule          LowCardinality(String),
    window_start  DateTime('UTC'),
    state         LowCardinality(String),
    value         Float64,
    threshold     Float64,
    message       String,
    recorded_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (app, challenger, dimension, rule, window_start, state);
