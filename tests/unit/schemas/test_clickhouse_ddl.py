import re

from schemas.clickhouse import connect, migrations, redact_url
from schemas.errors import ConfigError
from schemas.events import ScoredRecord

import pytest


def test_migrations_have_unique_increasing_versions_starting_at_one():
    versions = [version for version, _name, _statements in migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


def test_scores_table_has_a_column_for_every_record_field_and_dedups_on_the_pair():
    # The sink inserts every ScoredRecord field: each must be created or added by some migration.
    ddl = next(statements for version, _n, statements in migrations() if version == 1)[0]
    columns = set(re.findall(r"^\s{4}(\w+)\s", ddl, flags=re.M))
    for _version, _name, statements in migrations():
        for statement in statements:
            if re.match(r"ALTER TABLE shadow_scores", statement):
                columns |= set(re.findall(r"ADD COLUMN (?:IF NOT EXISTS )?(\w+)", statement))
    fields = set(ScoredRecord.model_fields) - {"schema_version"}
    assert fields <= columns, f"fields without a column: {sorted(fields - columns)}"
    assert "ReplacingMergeTree" in ddl
    assert re.search(r"ORDER BY \(challenger, scorer_version, event_id\)", ddl)


def test_an_unknown_url_scheme_is_a_config_error_naming_the_variable():
    with pytest.raises(ConfigError, match="SHADOW_CLICKHOUSE_URL"):
        connect("postgres://x")


def test_passwords_do_not_reach_messages():
    assert "hunter2" not in redact_url("http://user:hunter2@host:8123/db")
