-- Shadow-Optic's schema as of 0.2: the scored pairs. Files 001-099 state today's schema (0.1's 18
-- migrations were squashed into them: 0.1 databases are rebuilt, see CHANGELOG.md); changes from
-- here on are new files numbered 101 and up, applied once each in numeric order.
--
-- One row per (event_id, challenger, scorer_version). ReplacingMergeTree keeps the latest insert of
-- a key, so a batch written twice (Kafka at-least-once, Faust rebalance bugs) is counted once:
-- read with FINAL, or aggregate with argMax, never plain count().
CREATE TABLE IF NOT EXISTS shadow_scores
(

    event_id                     String,
    challenger                   LowCardinality(String),
    challenger_model             LowCardinality(String),
    is_control                   Bool,
    app                          LowCardinality(String),
    route                        LowCardinality(String),
    tenant                       String,
    production_model             LowCardinality(String),
    production_model_rev         LowCardinality(String),
    request_hash                 String,
    ts_request                   DateTime64(3, 'UTC'),
    ts_scored                    DateTime64(3, 'UTC'),
    status                       LowCardinality(String),
    error                        String,
    similarity                   Nullable(Float64),
    similarity_method            LowCardinality(String),
    similarity_components        Map(String, Float64),
    exact_match                  Nullable(Bool),
    json_valid_production        Nullable(Bool),
    json_valid_challenger        Nullable(Bool),
    length_ratio                 Nullable(Float64),
    refusal_production           Nullable(Bool),
    refusal_challenger           Nullable(Bool),
    production_latency_ms        Float64,
    challenger_latency_ms        Nullable(Float64),
    latency_delta_ms             Nullable(Float64),
    latency_ratio                Nullable(Float64),
    production_prompt_tokens     UInt32,
    production_completion_tokens UInt32,
    challenger_prompt_tokens     UInt32,
    challenger_completion_tokens UInt32,
    production_cost_usd          Float64,
    challenger_cost_usd          Float64,
    cost_delta_usd               Float64,
    judge_score                  Nullable(Float64),
    scorer_version               LowCardinality(String),
    inserted_at                  DateTime64(3, 'UTC') DEFAULT now64(3),
    completion_tokens_delta      Nullable(Int64),
    total_tokens_delta           Nullable(Int64),
    label_production             LowCardinality(String) DEFAULT '',
    label_challenger             LowCardinality(String) DEFAULT '',
    label_agree                  Nullable(Bool),
    label_flip                   LowCardinality(String) DEFAULT '',
    json_field_agreement         Nullable(Float64),
    json_fields_changed          Array(String),
    numeric_abs_error            Nullable(Float64),
    numeric_rel_error            Nullable(Float64),
    judge_faithfulness           Nullable(Float64),
    judge_quality                Nullable(Float64),
    judge_conciseness            Nullable(Float64),
    judge_quality_production     Nullable(Float64),
    judge_refusal                Nullable(Bool),
    judge_repeats                UInt8 DEFAULT 0,
    judge_noise                  Nullable(Float64),
    judge_model                  LowCardinality(String) DEFAULT '',
    INDEX idx_inserted_at inserted_at TYPE minmax GRANULARITY 1,  -- what rows came late: the results cache
    INDEX idx_ts_request ts_request TYPE minmax GRANULARITY 1  -- time ranges inside a partition, with FINAL
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts_request)
ORDER BY (challenger, scorer_version, event_id)
