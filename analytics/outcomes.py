"""Outcome feedback (labels, rewards, ratings) that arrives after the scores, joined by event id.

Comparisons where outcomes exist, challenger − production on the same events: paired t-test, win-rate
z-test, Sharpe-style ratio and max drawdown computed in SQL; the bootstrap CI (10k resamples) in numpy
on the pairs SQL returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from clickhouse_connect.driver.client import Client
from pydantic import BaseModel

from analytics.scope import Scope, nan_to_none
from analytics.stats import PairedComparison, WinRate, bootstrap_mean_ci
from infra.feedback import insert_feedback
from infra.kafka_clients import kafka_config
from schemas.clickhouse import FEEDBACK_TABLE, SCORES_TABLE
from schemas.errors import InvalidEventError
from schemas.events import PREFERENCE_POINTS, OutcomeFeedback, check_feedback
from schemas.settings import Settings

__all__ = ["FEEDBACK_TABLE", "PREFERENCE_POINTS", "check_feedback", "record_feedback", "publish_feedback",
           "consume_feedback", "outcome_pairs", "outcome_stats_sql", "outcome_comparison", "OutcomeStats"]

def record_feedback(client: Client, records: Iterable[OutcomeFeedback]) -> int:
    records = list(records)
    for r in records:
        check_feedback(r)
    return insert_feedback(client, records)


def publish_feedback(settings: Settings, records: Iterable[OutcomeFeedback]) -> int:
    """Send feedback to the shadow.feedback topic (keyed by event id) for `consume_feedback` to store."""
    from confluent_kafka import Producer

    from infra.kafka_clients import ensure_topics

    topic = settings.topics.feedback
    ensure_topics(settings.kafka_bootstrap, [topic], settings.topic_partitions, security=settings.kafka_security)
    producer = Producer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {"linger.ms": 5}))
    count = 0
    for r in records:
        check_feedback(r)
        producer.produce(topic, key=r.event_id.encode(), value=r.model_dump_json().encode())
        count += 1
    if producer.flush(30) != 0:
        raise InvalidEventError(f"{producer.flush(0)} feedback messages were not delivered to {topic}")
    return count


def consume_feedback(settings: Settings, client: Client, idle_s: float = 2.0, max_messages: int = 0) -> tuple[int, int]:
    """Store what is on shadow.feedback until idle; (stored, rejected). Offsets committed after the insert."""
    from confluent_kafka import Consumer

    consumer = Consumer(kafka_config(settings.kafka_bootstrap, settings.kafka_security, {
        "group.id": f"{settings.consumer_group}-feedback", "auto.offset.reset": "earliest",
        "enable.auto.commit": False}))
    consumer.subscribe([settings.topics.feedback])
    stored = rejected = 0
    try:
        while True:
            messages = consumer.consume(500, timeout=idle_s)
            if not messages:
                break
            batch = []
            for m in messages:
                if m.error():
                    continue
                try:
                    record = OutcomeFeedback.model_validate_json(m.value())
                    check_feedback(record)
                    batch.append(record)
                except (ValueError, InvalidEventError):
                    rejected += 1  # malformed feedback is counted and skipped, never blocks the rest
            stored += record_feedback(client, batch)
            consumer.commit(asynchronous=False)
            if max_messages and stored + rejected >= max_messages:
                break
    finally:
        consumer.close()
    return stored, rejected


# Feedback rows FINAL (a corrected outcome replaces the first); several sources averaged per answer.
_PAIRS_SQL = f"""
WITH
    s AS (SELECT event_id, ts_request FROM {SCORES_TABLE} FINAL
          WHERE {{where}} AND challenger = {{challenger:String}} AND status = 'ok'),
    f AS (SELECT event_id, subject, avg(value) AS value FROM {FEEDBACK_TABLE} FINAL
          WHERE kind = {{kind:String}} AND subject IN ({{challenger:String}}, 'production')
          GROUP BY event_id, subject)
SELECT s.event_id AS event_id, s.ts_request AS ts, fc.value AS c, fp.value AS p, fc.value - fp.value AS d
FROM s
INNER JOIN (SELECT * FROM f WHERE subject = {{challenger:String}}) AS fc ON fc.event_id = s.event_id
INNER JOIN (SELECT * FROM f WHERE subject = 'production') AS fp ON fp.event_id = s.event_id
"""

_STATS_SQL = f"""
WITH pairs AS ({_PAIRS_SQL})
SELECT
    count() AS n, avg(d) AS mean, stddevSamp(d) AS sd,
    if(n >= 2 AND sd > 0, tupleElement(studentTTestOneSample(d, 0.), 1), nan) AS t,
    if(n >= 2 AND sd > 0, tupleElement(studentTTestOneSample(d, 0.), 2), nan) AS p_value,
    if(sd > 0, mean / sd, nan) AS sharpe,
    countIf(d > 0) AS wins, countIf(d < 0) AS losses, countIf(d = 0) AS ties,
    if(wins + losses > 0, (wins - (wins + losses) / 2) / sqrt((wins + losses) / 4), nan) AS win_z,
    if(wins + losses > 0, erfc(abs(win_z) / sqrt(2)), nan) AS win_p,
    (SELECT max(peak - cum) FROM (
        SELECT cum, greatest(0., max(cum) OVER (ORDER BY ts, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) AS peak
        FROM (SELECT ts, event_id, sum(d) OVER (ORDER BY ts, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum
              FROM pairs))) AS max_drawdown
FROM pairs
"""


class OutcomeStats(BaseModel):
    kind: str
    n: int
    mean: float | None
    sd: float | None
    t: float | None
    p_value: float | None
    sharpe: float | None
    wins: int
    losses: int
    ties: int
    win_z: float | None
    win_p: float | None
    max_drawdown: float | None


def outcome_pairs(client: Client, scope: Scope, challenger: str, kind: str) -> list[tuple[str, datetime, float, float]]:
    """(event_id, ts_request, challenger value, production value), ordered by time then event id."""
    result = client.query(_PAIRS_SQL.replace("{where}", scope.where()) + " ORDER BY ts, event_id",
                          parameters={**scope.params(), "challenger": challenger, "kind": kind})
    return [(r[0], r[1], float(r[2]), float(r[3])) for r in result.result_rows]


def outcome_stats_sql(client: Client, scope: Scope, challenger: str, kind: str) -> OutcomeStats:
    row = next(iter(client.query(_STATS_SQL.replace("{where}", scope.where()),
                                 parameters={**scope.params(), "challenger": challenger, "kind": kind}).named_results()))
    n = int(row["n"])
    return OutcomeStats(kind=kind, n=n, mean=nan_to_none(row["mean"]) if n else None,
                        sd=nan_to_none(row["sd"]) if n > 1 else None, t=nan_to_none(row["t"]),
                        p_value=nan_to_none(row["p_value"]), sharpe=nan_to_none(row["sharpe"]),
                        wins=int(row["wins"]), losses=int(row["losses"]), ties=int(row["ties"]),
                        win_z=nan_to_none(row["win_z"]), win_p=nan_to_none(row["win_p"]),
                        max_drawdown=nan_to_none(row["max_drawdown"]) if n else None)


def outcome_comparison(client: Client, scope: Scope, challenger: str, kinds: tuple[str, ...] = ("reward", "label", "rating"),
                       resamples: int = 10_000, seed: int = 0) -> PairedComparison | None:
    """The first kind of outcome with pairs: SQL statistics plus a bootstrap CI; None without outcomes."""
    for kind in kinds:
        stats = outcome_stats_sql(client, scope, challenger, kind)
        if stats.n < 2:
            continue
        d = [c - p for _, _, c, p in outcome_pairs(client, scope, challenger, kind)]
        low, high = bootstrap_mean_ci(d, resamples, seed=seed)
        return PairedComparison(
            n=stats.n, mean_diff=stats.mean, sd_diff=stats.sd, t=stats.t, p_value=stats.p_value, ci_low=low,
            ci_high=high, resamples=resamples,
            win_rate=WinRate(wins=stats.wins, losses=stats.losses, ties=stats.ties,
                             rate=stats.wins / (stats.wins + stats.losses) if stats.wins + stats.losses else None,
                             z=stats.win_z, p_value=stats.win_p),
            sharpe=stats.sharpe, max_drawdown=stats.max_drawdown)
    return None

