-- Scoring fields of issue 6 (stream_agents/scoring/): token deltas, classifier agreement and flips,
-- JSON field diff, numeric error, and the LLM judge's per-criterion scores. All nullable or with a
-- default, so rows written before this migration (and by older workers) read as "not scored".
-- The per-minute view (002) is untouched: it names its columns, so new columns do not disturb it.
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS completion_tokens_delta Nullable(Int64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS total_tokens_delta Nullable(Int64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS label_production LowCardinality(String) DEFAULT '';
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS label_challenger LowCardinality(String) DEFAULT '';
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS label_agree Nullable(Bool);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS label_flip LowCardinality(String) DEFAULT '';
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS json_field_agreement Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS json_fields_changed Array(String);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS numeric_abs_error Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS numeric_rel_error Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_faithfulness Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_quality Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_conciseness Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_quality_production Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_refusal Nullable(Bool);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_repeats UInt8 DEFAULT 0;
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_noise Nullable(Float64);
ALTER TABLE shadow_scores ADD COLUMN IF NOT EXISTS judge_model LowCardinality(String) DEFAULT '';
