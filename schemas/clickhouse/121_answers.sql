-- The texts of each pair as masked at the gateway: the request, production's answer and the
-- challenger's, joined to shadow_scores and shadow_judgments by (app, challenger, event_id).
-- Written by the sink from the ScoredRecord's `answers`; compressed with ZSTD (long, repetitive
-- text compresses several-fold). Each row expires at `expires_at` (ts_request + SHADOW_ANSWERS_TTL_DAYS,
-- set by the sink), so the retention is a setting, not a schema change.
CREATE TABLE IF NOT EXISTS shadow_answers
(
    app                LowCardinality(String),
    challenger         LowCardinality(String),
    event_id           String,
    route              LowCardinality(String),
    tenant             LowCardinality(String),
    ts_request         DateTime64(3, 'UTC'),
    request            String CODEC(ZSTD(3)),
    production_answer  String CODEC(ZSTD(3)),
    challenger_answer  String CODEC(ZSTD(3)),
    expires_at         DateTime('UTC'),
    inserted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(inserted_at)
PARTITION BY toYYYYMM(ts_request)
ORDER BY (app, challenger, event_id)
TTL expires_at DELETE;
