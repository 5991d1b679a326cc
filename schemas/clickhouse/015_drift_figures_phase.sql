-- shadow_drift_figures (013) again, with `phase` (minutes past the window-length grid a window starts
-- at) in the sort key before `bucket`. 1-hour windows are now stored every 5 minutes, so hours sliding
-- by 5, 10, 15, 20 or 30 minutes read stored figures, and a query reads only the phases its step
-- produces (a tumbling hour: phase 0) as contiguous key ranges instead of filtering every window.
-- The table holds derived data only: it is rebuilt empty with the same columns and refilled by the
-- next refresh, whose watermark (row 1 of shadow_evidence_watermark) goes back to the epoch.
CREATE TABLE IF NOT EXISTS shadow_drift_figures_015
ENGINE = ReplacingMergeTree(computed_at)
PARTITION BY toYYYYMM(bucket)
ORDER BY (app, scorer_version, bucket_minutes, route, tenant, phase, bucket, challenger)
SETTINGS index_granularity = 1024
EMPTY AS SELECT *, toUInt16(0) AS phase FROM shadow_drift_figures;

DROP TABLE IF EXISTS shadow_drift_figures;

RENAME TABLE shadow_drift_figures_015 TO shadow_drift_figures;

ALTER TABLE shadow_drift_figures
    MODIFY COLUMN phase UInt16 MATERIALIZED toUInt16(intDiv(toUnixTimestamp(bucket) % (bucket_minutes * 60), 60));

INSERT INTO shadow_evidence_watermark (id, watermark, refreshed_at) VALUES (1, 0, now64(3, 'UTC'))
