-- Coarser tiers of the per-minute aggregates (002/007): 5-minute and 1-hour buckets, each split
-- three ways: none (route = tenant = '*'), by route (tenant = '*'), by route and tenant. A week of 1-hour windows then merges
-- 168 states per challenger instead of 10,080; drift picks the coarsest tier that divides its window
-- and step (analytics/windows.py). One materialized view feeds every tier (ARRAY JOIN over tiers).
-- Quantiles are t-digest states as in 002: quantileTiming (exact small histograms) was measured too,
-- but its fixed ~23 KB states cost more to read and merge at 5-minute buckets than t-digest's.
-- Same at-least-once caveat as 002: gates read the exact path.
CREATE TABLE IF NOT EXISTS shadow_scores_rollup
(
    app              LowCardinality(String),
    challenger       LowCardinality(String),
    scorer_version   LowCardinality(String),
    bucket_minutes   UInt16,
    route            LowCardinality(String),
    tenant           String,
    is_control       Bool,
    bucket           DateTime('UTC'),
    rows             AggregateFunction(count),
    ok               AggregateFunction(countIf, UInt8),
    errors           AggregateFunction(countIf, UInt8),
    sim_n            AggregateFunction(countIf, UInt8),
    sim_sum          AggregateFunction(sumIf, Float64, UInt8),
    sim_sq           AggregateFunction(sumIf, Float64, UInt8),
    sim_q            AggregateFunction(quantilesTDigestIf(0.05, 0.5, 0.95), Float64, UInt8),
    lat_n            AggregateFunction(countIf, UInt8),
    lat_sum          AggregateFunction(sumIf, Float64, UInt8),
    lat_q            AggregateFunction(quantilesTDigestIf(0.5, 0.95, 0.99), Float64, UInt8),
    prod_lat_q       AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), Float64),
    ch_lat_q         AggregateFunction(quantilesTDigestIf(0.5, 0.95, 0.99), Float64, UInt8),
    refusal_n        AggregateFunction(countIf, UInt8),
    refusals         AggregateFunction(countIf, UInt8),
    flips            AggregateFunction(countIf, UInt8),
    exact_matches    AggregateFunction(countIf, UInt8),
    judge_n          AggregateFunction(countIf, UInt8),
    judge_sum        AggregateFunction(sumIf, Float64, UInt8),
    prod_cost        AggregateFunction(sum, Float64),
    ch_cost          AggregateFunction(sum, Float64),
    delta_cost       AggregateFunction(sum, Float64),
    prod_tokens      AggregateFunction(sum, UInt64),
    ch_tokens        AggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(bucket)
-- challenger last: drift filters it only sometimes, and an unfiltered key column stops the index.
ORDER BY (app, scorer_version, bucket_minutes, route, tenant, bucket, challenger, is_control)
-- Small granules: a query for the open hour then deserializes a few hundred states, not thousands.
SETTINGS index_granularity = 256;

CREATE MATERIALIZED VIEW IF NOT EXISTS shadow_scores_rollup_mv TO shadow_scores_rollup AS
SELECT
    app, challenger, scorer_version,
    tier.1 AS bucket_minutes, if(tier.2 >= 1, route, '*') AS route, if(tier.2 = 2, tenant, '*') AS tenant, is_control,
    toDateTime(intDiv(toUInt32(toDateTime(ts_request)), bucket_minutes * 60) * (bucket_minutes * 60), 'UTC') AS bucket,
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
FROM shadow_scores
ARRAY JOIN [(5, 0), (60, 0), (5, 1), (60, 1), (5, 2), (60, 2)] AS tier
GROUP BY app, challenger, scorer_version, bucket_minutes, route, tenant, is_control, bucket;

-- Rows scored before 012 existed, aggregated once from the deduplicated table (see 003).
INSERT INTO shadow_scores_rollup
SELECT
    app, challenger, scorer_version,
    tier.1 AS bucket_minutes, if(tier.2 >= 1, route, '*') AS route, if(tier.2 = 2, tenant, '*') AS tenant, is_control,
    toDateTime(intDiv(toUInt32(toDateTime(ts_request)), bucket_minutes * 60) * (bucket_minutes * 60), 'UTC') AS bucket,
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
ARRAY JOIN [(5, 0), (60, 0), (5, 1), (60, 1), (5, 2), (60, 2)] AS tier
GROUP BY app, challenger, scorer_version, bucket_minutes, route, tenant, is_control, bucket;
