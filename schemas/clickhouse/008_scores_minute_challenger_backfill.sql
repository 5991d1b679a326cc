-- Rows scored before 007 existed, aggregated once from the deduplicated table (see 003).
INSERT INTO shadow_scores_minute_challenger
SELECT
    app, challenger, scorer_version, is_control,
    toStartOfMinute(ts_request) AS minute,
    @FIGURE_STATES@
FROM shadow_scores FINAL
GROUP BY app, challenger, scorer_version, is_control, minute;
