"""The migrations for a ClickHouse cluster (SHADOW_CLICKHOUSE_CLUSTER): every table becomes a Replicated*
engine on each shard (`<name>_local`, created ON CLUSTER) with a Distributed table under the original name in
front of it, so every reader and writer keeps using the names it knows.

- The Distributed table shards by a hash of the local table's ORDER BY key: all versions of one key land on
  one shard, so ReplacingMergeTree (and FINAL) still counts each (event, challenger) once.
- Materialized views are created on every shard and read the local table, so an insert that lands on a
  shard feeds that shard's aggregates.
- ALTERs go to the local tables (and, for column changes, to the Distributed table too); DROP, RENAME and
  TRUNCATE to both as they apply. INSERT ... SELECT statements (backfills) go through the Distributed tables.

No cluster runs on the machines this was built on: tests/unit/schemas/test_cluster_ddl.py checks the
generated DDL statement by statement.
"""

from __future__ import annotations

import re

__all__ = ["ClusterDdl"]

_NAME = r"(\w+)"
_CREATE_TABLE = re.compile(rf"^CREATE TABLE IF NOT EXISTS {_NAME}\b(.*)$", re.S)
_ENGINE = re.compile(r"ENGINE\s*=\s*(\w*MergeTree)(\(([^)]*)\))?")
_ORDER_BY = re.compile(r"ORDER BY\s+(\([^)]*\)|[\w.]+)")
_CREATE_VIEW = re.compile(rf"^CREATE MATERIALIZED VIEW IF NOT EXISTS {_NAME}\s+TO\s+{_NAME}\b(.*)$", re.S)
_ALTER = re.compile(rf"^ALTER TABLE {_NAME}\b(.*)$", re.S)
_COLUMN_CHANGE = re.compile(r"^\s*(ADD|MODIFY|DROP|RENAME)\s+COLUMN\b", re.I)
_DROP = re.compile(rf"^DROP (TABLE|VIEW) IF EXISTS {_NAME}\s*$")
_RENAME = re.compile(rf"^RENAME TABLE {_NAME} TO {_NAME}\s*$")
_TRUNCATE = re.compile(rf"^TRUNCATE TABLE IF EXISTS {_NAME}\s*$")


class ClusterDdl:
    """Rewrites migration statements in order; remembers each table's sharding key across statements."""

    def __init__(self, cluster: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", cluster):
            raise ValueError(f"SHADOW_CLICKHOUSE_CLUSTER={cluster!r}: a cluster name is letters, digits and _")
        self.cluster = cluster
        self.sharding: dict[str, str] = {}  # table (original name) -> sharding expression

    def _local(self, name: str) -> str:
        return f"{name}_local"

    def _on(self) -> str:
        return f"ON CLUSTER {self.cluster}"

    def _distributed(self, name: str) -> str:
        return (f"CREATE TABLE IF NOT EXISTS {name} {self._on()} AS {self._local(name)} ENGINE = Distributed("
                f"'{self.cluster}', currentDatabase(), '{self._local(name)}', {self.sharding[name]})")

    def _locals_in(self, sql: str) -> str:
        """Table references (FROM/JOIN) of known tables point to their local tables."""
        for name in sorted(self.sharding, key=len, reverse=True):
            sql = re.sub(rf"\b(FROM|JOIN)\s+{name}\b", rf"\1 {self._local(name)}", sql)
        return sql

    def rewrite(self, statement: str) -> list[str]:
        if match := _CREATE_TABLE.match(statement):
            name, rest = match.groups()
            engine = _ENGINE.search(rest)
            order = _ORDER_BY.search(rest)
            if engine is None or order is None:
                raise ValueError(f"cannot make {name} replicated: no MergeTree ENGINE / ORDER BY in its DDL")
            args = f", {engine.group(3)}" if engine.group(3) else ""
            replicated = (f"ENGINE = Replicated{engine.group(1)}('/clickhouse/tables/{{shard}}/{{database}}/"
                          f"{self._local(name)}', '{{replica}}'{args})")
            rest = rest[:engine.start()] + replicated + rest[engine.end():]
            key = order.group(1).strip()
            self.sharding[name] = f"cityHash64{key if key.startswith('(') else f'({key})'}"
            local = f"CREATE TABLE IF NOT EXISTS {self._local(name)} {self._on()}{self._locals_in(rest)}"
            return [local, self._distributed(name)]
        if match := _CREATE_VIEW.match(statement):
            view, target, rest = match.groups()
            return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {view} {self._on()} TO {self._local(target)}"
                    f"{self._locals_in(rest)}"]
        if match := _ALTER.match(statement):
            name, rest = match.groups()
            out = [f"ALTER TABLE {self._local(name)} {self._on()}{rest}"]
            # The Distributed table follows column changes only (no ORDER BY, TTL or index of its own).
            columns = [command for command in _commands(rest) if _COLUMN_CHANGE.match(command)]
            if columns:
                out.append(f"ALTER TABLE {name} {self._on()} {', '.join(c.strip() for c in columns)}")
            return out
        if match := _DROP.match(statement):
            kind, name = match.groups()
            if kind == "VIEW":
                return [f"DROP VIEW IF EXISTS {name} {self._on()} SYNC"]
            self.sharding.pop(name, None)
            return [f"DROP TABLE IF EXISTS {name} {self._on()} SYNC",
                    f"DROP TABLE IF EXISTS {self._local(name)} {self._on()} SYNC"]
        if match := _RENAME.match(statement):
            old, new = match.groups()
            self.sharding[new] = self.sharding.pop(old)
            return [f"RENAME TABLE {self._local(old)} TO {self._local(new)} {self._on()}",
                    f"DROP TABLE IF EXISTS {old} {self._on()} SYNC", self._distributed(new)]
        if match := _TRUNCATE.match(statement):
            return [f"TRUNCATE TABLE IF EXISTS {self._local(match.group(1))} {self._on()}"]
        return [statement]  # INSERT ... SELECT and the like: through the Distributed tables


def _commands(alter_rest: str) -> list[str]:
    """The comma-separated commands of one ALTER, split outside parentheses and quotes."""
    commands, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(alter_rest):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            commands.append(alter_rest[start:i])
            start = i + 1
    commands.append(alter_rest[start:])
    return commands


def cluster_migrations(cluster: str, migrations: list[tuple[int, str, list[str]]]
                       ) -> list[tuple[int, str, list[str]]]:
    """The migrations with every statement rewritten for `cluster`, in the same order."""
    ddl = ClusterDdl(cluster)
    return [(version, name, [out for statement in statements for out in ddl.rewrite(statement)])
            for version, name, statements in migrations]


__all__ += ["cluster_migrations"]
