"""Migrations: statements split as PostgreSQL reads them, steps in order, tables from models,
and against the real server: a failed step leaves the previous version, migrators take
turns."""

import threading

import psycopg
import pytest

from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.power.kind import KIND, PUE
from sinks.ddl import create_table
from sinks.migrate import bootstrap, migrate, migrations, split_statements, status

FLAKY = ("tests.sinks.flaky_kind",)


def test_split_respects_quotes_dollar_quotes_and_comments():
    script = ("CREATE TABLE a (x text DEFAULT ';'); -- a comment; with a semicolon\n"
              "DO $body$ BEGIN PERFORM 1; END $body$;\nSELECT 'it''s; fine'")
    assert split_statements(script) == [
        "CREATE TABLE a (x text DEFAULT ';')",
        "DO $body$ BEGIN PERFORM 1; END $body$",
        "SELECT 'it''s; fine'"]


def test_platform_steps_then_each_kinds_in_version_order():
    versions = [m.version for m in migrations()]
    assert versions == ["0001_pipeline", "0002_alerts", "0003_dead_letter_replay",
                        "0004_aggregate_refresh", "0005_device_clock", "0006_alert_annotations", "0007_broadcast",
                        "power/0001_tables", "power/0002_pue_hourly", "buoy/0001_tables",
                        "tide/0001_tables", "cell/0001_tables", "cell/0002_refused_kpis_null",
                        "mr/0001_tables", "pollution/0001_tables"]
    # 0002_alerts makes no time-series table (deliveries, acks, silences are keyed by id)
    assert {s.version for s in migrations() if s.timescaledb} == {
        "0001_pipeline", "power/0001_tables", "power/0002_pue_hourly", "buoy/0001_tables",
        "tide/0001_tables", "cell/0001_tables", "mr/0001_tables", "pollution/0001_tables"}
    for step in migrations():
        assert step.base or step.postgres, f"{step.version} does nothing on PostgreSQL"


def test_tables_are_made_from_their_models():
    [readings, _, windows, _] = [s.as_string(None) for s in create_table(KIND.table)] + [
        s.as_string(None) for s in create_table(PUE.table)]
    assert readings.startswith('CREATE TABLE "power_readings" ("site" text NOT NULL, "device" '
                               'text NOT NULL, "seq" bigint NOT NULL, "ts" timestamptz NOT NULL, '
                               '"circuit" text NOT NULL, "kw" double precision NOT NULL')
    assert '"pue" double precision, ' in windows  # Optional in the model: nullable
    assert windows.endswith('PRIMARY KEY ("site", "window_start"))')


@pytest.mark.integration
def test_a_failed_step_leaves_the_previous_version_and_a_rerun_completes(settings: Settings):
    bootstrap(settings)
    with psycopg.connect(Credentials(settings).dsn("admin")) as conn:
        conn.autocommit = True
        conn.execute("SET fjsense.fail_migration = 'yes'")
        with pytest.raises(psycopg.errors.DivisionByZero):
            migrate(conn, FLAKY)
        steps = {v: variant for v, variant, _ in status(conn, FLAKY)}
        assert steps["gauge/0001_tables"] == "postgres" and steps["gauge/0002_levels"] is None
        assert conn.execute("SELECT to_regclass('gauge_levels')").fetchone() == (None,)
        conn.execute("RESET fjsense.fail_migration")
        assert migrate(conn, FLAKY) == ["gauge/0002_levels"]
        assert conn.execute("SELECT name FROM gauge_levels ORDER BY level").fetchall() == [
            ("blue",), ("red",)]
        assert all(variant == "postgres" for _, variant, _ in status(conn, FLAKY))


@pytest.mark.integration
def test_concurrent_migrators_take_turns(settings: Settings):
    bootstrap(settings)
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(Credentials(settings).dsn("admin")) as conn:
                results.append(migrate(conn, FLAKY))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(results, key=len) == [[], [], ["gauge/0001_tables", "gauge/0002_levels"]]
