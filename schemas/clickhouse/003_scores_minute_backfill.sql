-- Rows scored before the minute view existed: aggregated once from the deduplicated table.
-- Runs right after 002 in the same migrate() call; rows inserted between the two statements would
-- be counted twice, so start-up migration runs before the sink writes (the launcher does).
INSERT INTO shadow_scores_minute
SELECT
    app, challenger, scorer_version, route, tenant, is_control,
    toStartOfMinute(ts_request) AS minute,
    countState() AS rows,
    countIfState(toUInt8(status = 'ok')) AS ok,
    countIfState(toUInt8(status IN ('error', 'timeout'))) AS errors,
    countIfState(toUInt8(status = 'ok' AND similarity IS NOT NULL)) AS sim_n,
    sumIfState(ifNull(similarity, 0.), toUInt8(status = 'ok' AND similarity IS NOT NULL)) AS sim_sum,
    sumIfState(ifNull(similarity, 0.) * ifNull(similarity, 0.), toUInt8(status = 'ok' AND similarity IS NOT NULL)) AS sim_sq,
    quantilesTDigestIfState(0.05, 0.5, 0.95)(ifNull(similarity, 0.), toUInt8(status = 'ok' AND similarity IS NOT NULL)) AS sim_q,
    countIfState(toUInt8(status = 'ok' AND latency_delta_ms IS NOT NULL)) AS lat_n,
    sumIfState(ifNull(latency_delta_ms, 0.), toUInt8(status = 'ok' AND latency_delta_ms IS NOT NULL)) AS lat_sum,
    quantilesTDigestIfState(0.5, 0.95, 0.99)(ifNull(latency_delta_ms, 0.), toUInt8(status = 'ok' AND latency_delta_ms IS NOT NULL)) AS lat_q,
    quantilesTDigestState(0.5, 0.95, 0.99)(production_latency_ms) AS prod_lat_q,
    quantilesTDigestIfState(0.5, 0.95, 0.99)(ifNull(challenger_latency_ms, 0.), toUInt8(status = 'ok' AND challenger_latency_ms IS NOT NULL)) AS ch_lat_q,
    countIfState(toUInt8(refusal_challenger IS NOT NULL)) AS refusal_n,
    countIfState(toUInt8(ifNull(refusal_challenger, false))) AS refusals,
    countIfState(toUInt8(ifNull(refusal_production != refusal_challenger, false))) AS flips,
    countIfState(toUInt8(ifNull(exact_match, false))) AS exact_matches,
    countIfState(toUInt8(judge_score IS NOT NULL)) AS judge_n,
    sumIfState(ifNull(judge_score, 0.), toUInt8(judge_score IS NOT NULL)) AS judge_sum,
    sumState(production_cost_usd) AS prod_cost,
    sumState(challenger_cost_usd) AS ch_cost,
    sumState(cost_delta_usd) AS delta_cost,
    sumState(toUInt64(production_prompt_tokens + production_completion_tokens)) AS prod_tokens,
    sumState(toUInt64(challenger_prompt_tokens + challenger_completion_tokens)) AS ch_tokens
FROM shadow_scores FINAL
GROUP BY app, challenger, scorer_version, route, tenant, is_control, minute;
