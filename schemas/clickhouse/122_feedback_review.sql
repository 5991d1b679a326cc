-- Pairwise ratings by people (kind 'preference', from the review page or `shadow-optic feedback`):
-- subject is the challenger, value its points (1 preferred to production, 0.5 tie, 0 production
-- preferred), as the pairwise judge scores it. Each reviewer's rating is its own row (reviewer joins
-- the key; a correction by the same reviewer replaces theirs). shown_first: which answer the page
-- showed on the left (blind order); queue_reason: why the queue offered the pair ('random' for the
-- unbiased share); rating_*: the optional 1-5 quality of each answer; note: the reviewer's words.
ALTER TABLE shadow_feedback
    ADD COLUMN IF NOT EXISTS reviewer LowCardinality(String),
    MODIFY ORDER BY (kind, event_id, subject, source, reviewer);
ALTER TABLE shadow_feedback ADD COLUMN IF NOT EXISTS shown_first LowCardinality(String);
ALTER TABLE shadow_feedback ADD COLUMN IF NOT EXISTS queue_reason LowCardinality(String);
ALTER TABLE shadow_feedback ADD COLUMN IF NOT EXISTS rating_production Nullable(Float64);
ALTER TABLE shadow_feedback ADD COLUMN IF NOT EXISTS rating_challenger Nullable(Float64);
ALTER TABLE shadow_feedback ADD COLUMN IF NOT EXISTS note String;
