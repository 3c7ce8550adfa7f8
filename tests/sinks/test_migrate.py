"""Splitting migration scripts into statements (the TimescaleDB branch runs them one by one)."""

from sinks.migrate import migrations, split_statements


def test_split_respects_quotes_dollar_quotes_and_comments():
    script = ("CREATE TABLE a (x text DEFAULT ';'); -- a comment; with a semicolon\n"
              "DO $body$ BEGIN PERFORM 1; END $body$;\nSELECT 'it''s; fine'")
    assert split_statements(script) == [
        "CREATE TABLE a (x text DEFAULT ';')",
        "DO $body$ BEGIN PERFORM 1; END $body$",
        "SELECT 'it''s; fine'"]


def test_every_migration_has_a_timescaledb_variant_in_version_order():
    steps = migrations()
    assert [m.version for m in steps] == sorted(m.version for m in steps)
    for step in steps:
        assert step.base.strip(), step.version
        assert step.timescaledb.strip(), f"{step.version} has no TimescaleDB variant"
