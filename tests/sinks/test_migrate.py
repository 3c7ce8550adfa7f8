"""Splitting migration scripts into statements (the TimescaleDB branch runs them one by one)."""

from fjsense.kinds.power import KIND, PUE
from sinks.ddl import create_table
from sinks.migrate import migrations, split_statements


def test_split_respects_quotes_dollar_quotes_and_comments():
    script = ("CREATE TABLE a (x text DEFAULT ';'); -- a comment; with a semicolon\n"
              "DO $body$ BEGIN PERFORM 1; END $body$;\nSELECT 'it''s; fine'")
    assert split_statements(script) == [
        "CREATE TABLE a (x text DEFAULT ';')",
        "DO $body$ BEGIN PERFORM 1; END $body$",
        "SELECT 'it''s; fine'"]


def test_platform_steps_then_each_kinds_in_version_order():
    versions = [m.version for m in migrations()]
    assert versions == ["0001_pipeline", "power/0001_tables", "power/0002_pue_hourly"]
    for step in migrations():
        assert step.timescaledb, f"{step.version} has no TimescaleDB variant"
        assert step.base or step.postgres, f"{step.version} does nothing on PostgreSQL"


def test_tables_are_made_from_their_models():
    [readings, _, windows, _] = [s.as_string(None) for s in create_table(KIND.table)] + [
        s.as_string(None) for s in create_table(PUE.table)]
    assert readings.startswith('CREATE TABLE "power_readings" ("site" text NOT NULL, "device" '
                               'text NOT NULL, "seq" bigint NOT NULL, "ts" timestamptz NOT NULL, '
                               '"circuit" text NOT NULL, "kw" double precision NOT NULL')
    assert '"pue" double precision, ' in windows  # Optional in the model: nullable
    assert windows.endswith('PRIMARY KEY ("site", "window_start"))')
