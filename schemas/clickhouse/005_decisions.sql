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
