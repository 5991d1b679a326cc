-- The judges' verdicts, one row per (app, judge version, challenger, event): evidence of their own,
-- so turning a judge on or changing it does not split shadow_scores into a new scorer version.
-- The judge_* columns of shadow_scores (001, 010) are no longer written since this migration; they
-- stay because migrations only add, and the minute views (002, 007) name judge_score.
CREATE TABLE IF NOT EXISTS shadow_judgments
(
    app                LowCardinality(String),
    judge_version      LowCardinality(String),
    challenger         LowCardinality(String),
    event_id           String,
    challenger_model   LowCardinality(String),
    route              LowCardinality(String),
    tenant             LowCardinality(String),
    ts_request         DateTime64(3, 'UTC'),
    ts_judged          DateTime64(3, 'UTC'),
    judge_model        LowCardinality(String),
    status             LowCardinality(String),
    reason             String,
    score              Nullable(Float64),
    flipped            Bool,
    length_ratio       Nullable(Float64),
    faithfulness       Nullable(Float64),
    quality            Nullable(Float64),
    quality_production Nullable(Float64),
    conciseness        Nullable(Float64),
    refusal            Nullable(Bool),
    cost_usd           Float64
)
ENGINE = ReplacingMergeTree(ts_judged)
PARTITION BY toYYYYMM(ts_request)
ORDER BY (app, judge_version, challenger, event_id);
