"""The migrations rewritten for a ClickHouse cluster (no cluster runs here: the DDL is checked as text)."""

from __future__ import annotations

import re

import pytest

from schemas.clickhouse import migrations
from schemas.clickhouse.cluster import ClusterDdl, cluster_migrations

CLUSTER = "shadow_cluster"


def _statements() -> list[str]:
    return [s for _, _, statements in cluster_migrations(CLUSTER, migrations()) for s in statements]


def _created(statements: list[str]) -> set[str]:
    return {m.group(1) for s in statements if (m := re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", s))}


def test_every_table_is_replicated_on_the_cluster_behind_a_distributed_table_of_its_name():
    statements = _statements()
    single = _created([s for _, _, sts in migrations() for s in sts])
    created = _created(statements)
    assert created == single | {f"{name}_local" for name in single}
    for statement in statements:
        if statement.startswith("CREATE TABLE"):
            name = re.match(r"CREATE TABLE IF NOT EXISTS (\w+)", statement).group(1)
            assert f"{name} ON CLUSTER {CLUSTER}" in statement, statement[:120]
            if name.endswith("_local"):
                assert re.search(rf"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/{{shard}}/{{database}}/"
                                 rf"{name}', '{{replica}}'", statement), statement[:300]
            else:
                assert f"AS {name}_local ENGINE = Distributed('{CLUSTER}', currentDatabase(), '{name}_local', " \
                       "cityHash64(" in statement, statement


def test_the_scores_table_shards_by_its_whole_key_so_each_pair_is_counted_once():
    ddl = ClusterDdl(CLUSTER)
    local, distributed = ddl.rewrite(
        "CREATE TABLE IF NOT EXISTS shadow_scores (event_id String, challenger String, scorer_version String, "
        "inserted_at DateTime64(3)) ENGINE = ReplacingMergeTree(inserted_at) PARTITION BY toYYYYMM(inserted_at) "
        "ORDER BY (challenger, scorer_version, event_id)")
    assert local == (
        "CREATE TABLE IF NOT EXISTS shadow_scores_local ON CLUSTER shadow_cluster (event_id String, challenger String, "
        "scorer_version String, inserted_at DateTime64(3)) ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/shadow_scores_local', '{replica}', inserted_at) "
        "PARTITION BY toYYYYMM(inserted_at) ORDER BY (challenger, scorer_version, event_id)")
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS shadow_scores ON CLUSTER shadow_cluster AS shadow_scores_local ENGINE = "
        "Distributed('shadow_cluster', currentDatabase(), 'shadow_scores_local', "
        "cityHash64(challenger, scorer_version, event_id))")


def test_views_read_local_tables_and_alters_reach_both_only_where_they_apply():
    statements = _statements()
    views = [s for s in statements if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views
    for view in views:
        assert f"ON CLUSTER {CLUSTER} TO " in view and re.search(r" TO \w+_local ", view), view[:160]
        for source in re.findall(r"\bFROM\s+(shadow_\w+)", view):
            assert source.endswith("_local"), (source, view[:160])
    ddl = ClusterDdl(CLUSTER)
    ddl.rewrite("CREATE TABLE IF NOT EXISTS t (a String, hour DateTime) ENGINE = MergeTree ORDER BY (a, hour)")
    local, distributed = ddl.rewrite("ALTER TABLE t ADD COLUMN IF NOT EXISTS b UInt8 DEFAULT 0, "
                                     "MODIFY ORDER BY (a, hour, b), MODIFY TTL hour + toIntervalDay(1)")
    assert local == ("ALTER TABLE t_local ON CLUSTER shadow_cluster ADD COLUMN IF NOT EXISTS b UInt8 DEFAULT 0, "
                     "MODIFY ORDER BY (a, hour, b), MODIFY TTL hour + toIntervalDay(1)")
    assert distributed == "ALTER TABLE t ON CLUSTER shadow_cluster ADD COLUMN IF NOT EXISTS b UInt8 DEFAULT 0"
    assert ddl.rewrite("ALTER TABLE t MATERIALIZE INDEX i") == ["ALTER TABLE t_local ON CLUSTER shadow_cluster "
                                                                "MATERIALIZE INDEX i"]
    ddl.rewrite("CREATE TABLE IF NOT EXISTS t2 (a String) ENGINE = MergeTree ORDER BY a")
    assert ddl.rewrite("RENAME TABLE t2 TO t3") == [
        "RENAME TABLE t2_local TO t3_local ON CLUSTER shadow_cluster", "DROP TABLE IF EXISTS t2 ON CLUSTER shadow_cluster SYNC",
        "CREATE TABLE IF NOT EXISTS t3 ON CLUSTER shadow_cluster AS t3_local ENGINE = Distributed('shadow_cluster', "
        "currentDatabase(), 't3_local', cityHash64(a))"]
    assert ddl.rewrite("TRUNCATE TABLE IF EXISTS t3") == ["TRUNCATE TABLE IF EXISTS t3_local ON CLUSTER shadow_cluster"]
    assert ddl.rewrite("DROP TABLE IF EXISTS t") == ["DROP TABLE IF EXISTS t ON CLUSTER shadow_cluster SYNC",
                                                      "DROP TABLE IF EXISTS t_local ON CLUSTER shadow_cluster SYNC"]


def test_without_a_cluster_the_migrations_are_unchanged_and_a_bad_name_is_refused():
    assert all(ClusterDdl("c").rewrite(s) == [s] for s in ("INSERT INTO shadow_scores SELECT 1", "SELECT 1"))
    with pytest.raises(ValueError, match="SHADOW_CLICKHOUSE_CLUSTER"):
        ClusterDdl("c1; DROP TABLE x")
