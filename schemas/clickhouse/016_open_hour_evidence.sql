-- Evidence of the open hour so far, so a promotion check reads at most ~10 minutes of raw pairs
-- instead of up to 65 (the hour since the watermark plus the settling time).
--
-- 1. The last insert per 5 minutes of ts_request replaces 014's per hour. The open hour always has
--    fresh inserts (its later minutes are still arriving), so only 5-minute buckets can tell whether
--    its closed part got rows late. Dirty hours are these buckets grouped by hour, as before.
-- 2. shadow_evidence_hourly gets rows with span_hours = 0: the open hour at the watermark from its
--    start to open_until (a 5-minute bound at least SETTLE old), written by each refresh and read
--    only while the open mark (row 2 of shadow_evidence_watermark) names that bound. open_until is
--    in the key, so a refresh running beside a read adds rows rather than replacing the ones it
--    reads; it is 0 on the rows of complete spans (hours, days).
CREATE TABLE IF NOT EXISTS shadow_scores_inserts_5m
(
    bucket         DateTime('UTC'),
    last_inserted  SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY bucket;

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_inserts_5m_mv TO shadow_scores_inserts_5m AS
SELECT toStartOfFiveMinutes(ts_request) AS bucket, max(inserted_at) AS last_inserted
FROM shadow_scores
GROUP BY bucket;

INSERT INTO shadow_scores_inserts_5m
SELECT toStartOfFiveMinutes(ts_request) AS bucket, max(inserted_at) AS last_inserted
FROM shadow_scores
GROUP BY bucket;

DROP VIEW IF EXISTS shadow_scores_inserts_mv;

DROP TABLE IF EXISTS shadow_scores_inserts;

ALTER TABLE shadow_evidence_hourly
    ADD COLUMN IF NOT EXISTS open_until DateTime('UTC'),
    MODIFY ORDER BY (app, scorer_version, span_hours, hour, challenger, open_until);

-- An open hour's rows are superseded by its final row within the hour; a day later merges drop them.
ALTER TABLE shadow_evidence_hourly MODIFY TTL hour + toIntervalDay(1) DELETE WHERE span_hours = 0
