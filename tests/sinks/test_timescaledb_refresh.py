"""Late data reaches the continuous aggregate, on TimescaleDB (the PGlite build the suite uses).

A replay of 30-day-old PUE windows lies far beyond ``pue_hourly``'s refresh policy (3 days).
The sink's note of the buckets it wrote into (``note_statement``, run here as the sink runs it
after its rows) and ``refresh_noted`` make the stored aggregate equal the PUE computed from the
raw windows, and refresh those hours only: an hour written without a note stays unrefreshed.
Retention and compression ages follow the settings per table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from fjsense.settings import Settings
from kinds.power.kind import PUE
from sinks.migrate import migrate
from sinks.policies import apply_policies
from sinks.refresh import note_statement, refresh_noted, refresh_span
from tests.sinks.test_timescaledb import insert

SITE = "refresh-test-dc"  # no other test's site: its rows are removed again at the end
TABLE = PUE.table
assert TABLE is not None


def windows(hour: datetime, facility: float) -> list[tuple]:
    """An hour of one-minute windows of SITE, IT 10 kWh each, facility ``facility`` kWh."""
    return [(SITE, hour + timedelta(minutes=m), hour + timedelta(minutes=m + 1), facility,
             10.0, facility - 10.5, facility / 10.0, None, None, None, None) for m in range(60)]


def connect(dsn: str) -> psycopg.Connection:
    """A connection of its own: PGlite serves one client at a time."""
    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture
def dsn(timescaledb: str) -> Iterator[str]:
    with connect(timescaledb) as conn:
        migrate(conn)
    yield timescaledb
    with connect(timescaledb) as conn:
        conn.execute(f"DELETE FROM pue_windows WHERE site = '{SITE}'")
        conn.execute("DELETE FROM aggregate_refresh")
        conn.execute("CALL refresh_continuous_aggregate('pue_hourly', NULL, NULL)")


def refresh(dsn: str, since: datetime | None = None, until: datetime | None = None
            ) -> list[tuple[str, datetime, datetime]]:
    """``refresh_noted`` (or, with a span, ``refresh_span``) on a connection of its own."""
    async def run() -> list[tuple[str, datetime, datetime]]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as aconn:
            if since is None and until is None:
                return await refresh_noted(aconn)
            return await refresh_span(aconn, since, until)
    return asyncio.run(run())


def materialized(dsn: str) -> dict[datetime, float]:
    """SITE's hours as the aggregate stored them (its materialization table, not the view,
    which computes what is not materialized on the fly)."""
    with connect(dsn) as conn:
        schema, name = conn.execute(
            "SELECT materialization_hypertable_schema, materialization_hypertable_name FROM "
            "timescaledb_information.continuous_aggregates WHERE view_name = 'pue_hourly'"
        ).fetchone()  # type: ignore[misc]
        return dict(conn.execute(
            f"SELECT bucket, pue FROM {schema}.{name} WHERE site = '{SITE}'").fetchall())


def test_a_month_old_replay_reaches_the_aggregate_and_only_its_hours_are_refreshed(dsn: str):
    day = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    replayed = {day + timedelta(hours=h): 13.0 + h for h in (3, 4, 6)}  # facility kWh/window
    unnoted = day + timedelta(hours=9)  # written behind the sink's back: no note
    # the stored aggregate as it was: the replayed hours stored wrong (an earlier, partial run)
    with connect(dsn) as conn:
        for hour in [*replayed, unnoted]:
            insert(conn, "pue_windows", TABLE.columns, windows(hour, 20.0))
    refresh(dsn, day, day + timedelta(days=1))
    assert materialized(dsn) == {h: pytest.approx(2.0) for h in [*replayed, unnoted]}

    # the replay: right values for the three hours, written and noted as the sink does
    rows = [row for hour, facility in replayed.items() for row in windows(hour, facility)]
    note = note_statement(TABLE, rows)
    assert note is not None
    with connect(dsn) as conn:
        conn.execute(f"DELETE FROM pue_windows WHERE site = '{SITE}' AND window_start < "
                     f"'{unnoted.isoformat()}'")
        insert(conn, "pue_windows", TABLE.columns, rows)
        conn.execute(note.as_string(conn))
        conn.execute(f"UPDATE pue_windows SET facility_kwh = 30.0 WHERE site = '{SITE}' "
                     f"AND window_start >= '{unnoted.isoformat()}'")  # changed, not noted
    assert materialized(dsn)[day + timedelta(hours=3)] == pytest.approx(2.0)  # still stale

    done = refresh(dsn)
    assert done == [("pue_hourly", day + timedelta(hours=3), day + timedelta(hours=5)),
                    ("pue_hourly", day + timedelta(hours=6), day + timedelta(hours=7))]
    with connect(dsn) as conn:
        from_raw = dict(conn.execute(
            "SELECT time_bucket('1 hour', window_start), sum(facility_kwh) / sum(it_kwh) "
            f"FROM pue_windows WHERE site = '{SITE}' AND pue IS NOT NULL GROUP BY 1").fetchall())
        left = conn.execute("SELECT count(*) FROM aggregate_refresh").fetchone()
    stored = materialized(dsn)
    assert {h: stored[h] for h in replayed} == {h: pytest.approx(from_raw[h]) for h in replayed}
    assert stored[day + timedelta(hours=3)] == pytest.approx(1.6)  # 16 kWh / 10 kWh
    assert stored[unnoted] == pytest.approx(2.0)  # untouched: its change waits for a refresh
    assert from_raw[unnoted] == pytest.approx(3.0)
    assert left == (0,)
    assert refresh(dsn) == []  # nothing noted: nothing refreshed


def test_a_time_the_database_refuses_or_reads_in_its_own_zone_is_no_bucket():
    hour = datetime(2026, 11, 6, 5, 30, tzinfo=UTC)
    good = windows(hour, 12.0)[0]
    as_text = (SITE, "2026-11-06T07:59:59.5+08:00", *good[2:])  # as a record carries it
    bad = [(SITE, text, *good[2:]) for text in ("not a time", "2026-11-06T05:00:00")]
    note = note_statement(TABLE, [good, as_text, *bad])
    assert note is not None and note.as_string(None).count("'pue_hourly'") == 2
    assert "'2026-11-05 23:00:00+00:00'::timestamptz" in note.as_string(None)
    assert "'2026-11-06 05:00:00+00:00'::timestamptz" in note.as_string(None)
    assert note_statement(TABLE, bad) is None  # no time, or one without an offset


def ages(conn: psycopg.Connection) -> dict[tuple[str, str], str]:
    """(procedure, table) -> the age in its policy job."""
    return {(proc, table): age for proc, table, age in conn.execute(
        "SELECT proc_name, hypertable_name, coalesce(config->>'drop_after', "
        "config->>'compress_after') FROM timescaledb_information.jobs "
        "WHERE proc_name IN ('policy_retention', 'policy_compression')")}


def test_retention_and_compression_ages_follow_the_settings_per_table(dsn: str):
    with connect(dsn) as conn:
        declared = ages(conn)
    assert declared[("policy_retention", "power_readings")] == "400 days"
    assert declared[("policy_compression", "buoy_observations")] == "30 days"
    base = Settings()
    changed = base.model_copy(update={"database": base.database.model_copy(update={
        "retention": {"power_readings": "800 days", "pipeline_metrics": "none",
                      "tide_observations": "10 years"},
        "compress_after": {"buoy_observations": "14 days"}})})
    with connect(dsn) as conn:
        try:
            assert apply_policies(conn, changed) == [
                "retention pipeline_metrics: 30 days -> none",
                "retention power_readings: 400 days -> 800 days",
                "retention tide_observations: none -> 10 years",
                "compress_after buoy_observations: 30 days -> 14 days"]
            assert apply_policies(conn, changed) == []  # already so
            now = ages(conn)
            assert now[("policy_retention", "power_readings")] == "800 days"
            assert ("policy_retention", "pipeline_metrics") not in now
            assert now[("policy_retention", "tide_observations")] == "10 years"
            assert now[("policy_compression", "buoy_observations")] == "14 days"
            touched = {("policy_retention", "power_readings"),
                       ("policy_retention", "pipeline_metrics"),
                       ("policy_retention", "tide_observations"),
                       ("policy_compression", "buoy_observations")}
            assert {k: v for k, v in now.items() if k not in touched} == {
                k: v for k, v in declared.items() if k not in touched}  # the rest as declared
            for wrong, words in ((("retention", {"no_table": "1 day"}), "no_table is no hypertable"),
                                 (("compress_after", {"alert_events": "1 day"}),
                                  "alert_events is not compressed")):
                bad = base.model_copy(update={"database": base.database.model_copy(
                    update={wrong[0]: wrong[1]})})
                with pytest.raises(ValueError, match=words):
                    apply_policies(conn, bad)
        finally:
            restore = base.model_copy(update={"database": base.database.model_copy(update={
                "retention": {"power_readings": "400 days", "pipeline_metrics": "30 days",
                              "tide_observations": "none"},
                "compress_after": {"buoy_observations": "30 days"}})})
            apply_policies(conn, restore)
        assert ages(conn) == declared
