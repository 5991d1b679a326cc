-- Rows scored before the minute view existed: aggregated once from the deduplicated table.
-- Runs right after 002 in the same migrate() call; rows inserted between the two statements would
-- be counted twice, so start-up migration runs before the sink writes (the launcher does).
INSERT INTO shadow_scores_minute
SELECT
    app, challenger, scorer_version, route, tenant, is_control,
    toStartOfMinute(ts_request) AS minute,
    @FIGURE_STATES@
FROM shadow_scores FINAL
GROUP BY app, challenger, scorer_version, route, tenant, is_control, minute;
