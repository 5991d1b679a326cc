-- Label agreement for the equivalence question of classifier and JSON models: how often the
-- challenger's label agrees with production's, next to the control's (production asked again).
ALTER TABLE shadow_evidence_hourly
    ADD COLUMN IF NOT EXISTS label_n UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS label_agree UInt64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS label_flips UInt64 DEFAULT 0;

-- Hours rolled up before this migration hold no label counts: roll everything up again. Readers take
-- the window from shadow_scores until the next refresh (the same answer, slower, once).
TRUNCATE TABLE IF EXISTS shadow_evidence_hourly;

INSERT INTO shadow_evidence_watermark (id, watermark, refreshed_at)
SELECT id, toDateTime(0, 'UTC'), now64(3, 'UTC') FROM (SELECT arrayJoin([0, 2]) AS id)
