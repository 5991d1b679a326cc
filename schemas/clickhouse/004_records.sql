-- What people and the decision loop record beside the scores.

-- Outcomes that arrive later than the scores (labels, rewards, human ratings 1-5), keyed by the
-- event they judge and the answer they judge: subject = 'production' or a challenger name.
-- kind: 'label' (value 1 = correct, 0 = wrong), 'reward' (any real), 'rating' (1-5).
-- A correction re-sent under the same key replaces the earlier one (latest received_at wins).
CREATE TABLE IF NOT EXISTS shadow_feedback
(
    event_id     String,
    subject      LowCardinality(String),
    kind         LowCardinality(String),
    source       LowCardinality(String),
    value        Float64,
    label        String,
    ts           DateTime64(3, 'UTC'),
    received_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(received_at)
ORDER BY (kind, event_id, subject, source);

-- The judges' verdicts, one row per (app, judge version, challenger, event): evidence of their own,
-- so turning a judge on or changing it does not split shadow_scores into a new scorer version.
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

-- Every verdict, promotion and rollback with the evidence it rested on (JSON), append-only.
CREATE TABLE IF NOT EXISTS shadow_decisions
(
    decision_id  String,
    ts           DateTime64(3, 'UTC'),
    app          LowCardinality(String),
    kind         LowCardinality(String),
    challenger   String,
    verdict      LowCardinality(String),
    score        Nullable(Float64),
    actor        String,
    reason       String,
    evidence     String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (app, ts, decision_id);

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
ORDER BY (app, challenger, dimension, rule, window_start, state)
