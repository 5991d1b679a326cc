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
