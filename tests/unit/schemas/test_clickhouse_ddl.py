import re

import pytest

from schemas.clickhouse import migrations
from schemas.errors import ConfigError
from schemas.events import ScoredRecord
from stream_agents.sink import JUDGMENT_COLUMNS, SCORE_COLUMNS


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
    fields = set(SCORE_COLUMNS)
    assert fields == set(ScoredRecord.model_fields) - {"schema_version", "judgment", "answers"}
    assert fields <= columns, f"fields without a column: {sorted(fields - columns)}"
    assert "ReplacingMergeTree" in ddl
    assert re.search(r"ORDER BY \(challenger, scorer_version, event_id\)", ddl)


def test_judgments_table_has_every_judgment_column_and_is_keyed_by_judge_version_and_pair():
    ddl = next(s for _v, _n, statements in migrations() for s in statements if "CREATE TABLE IF NOT EXISTS shadow_judgments" in s)
    columns = set(re.findall(r"^\s{4}(\w+)\s", ddl, flags=re.M))
    assert set(JUDGMENT_COLUMNS) == columns
    assert re.search(r"ORDER BY \(app, judge_version, challenger, event_id\)", ddl)


def test_migrations_run_in_numeric_order_so_later_files_numbered_from_101_follow(tmp_path):
    for name in ("101_rollout.sql", "004_records.sql", "1000_far.sql", "099_last_squashed.sql", "001_scores.sql"):
        (tmp_path / name).write_text("SELECT 1;\n")
    (tmp_path / "notes.sql").write_text("-- not a migration (no number)\n")
    assert [name for _v, name, _s in migrations(tmp_path)] == [
        "001_scores.sql", "004_records.sql", "099_last_squashed.sql", "101_rollout.sql", "1000_far.sql"]


def test_two_migrations_with_one_number_are_an_error(tmp_path):
    for name in ("101_rollout.sql", "101_review.sql"):
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(ConfigError, match="101_review.sql"):
        migrations(tmp_path)


def test_every_figure_of_the_catalogue_has_a_rollup_state_and_a_stored_column():
    from schemas.clickhouse.figures import FIGURES

    ddl = "\n".join(s for _v, _n, statements in migrations() for s in statements)
    for name, figure in FIGURES.items():
        assert f"{name} {figure.state_type}" in ddl and f"{figure.state} AS {name}" in ddl
        assert f"{name} {figure.stored_type}" in ddl
