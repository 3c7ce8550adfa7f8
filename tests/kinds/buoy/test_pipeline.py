"""Ocean buoys through real Mosquitto, Tansu and PostgreSQL: a real NDBC record replayed with
``fjsense replay`` is stored value for value, and simulated hypoxia, bloom and a stuck DO
sensor become exactly the alerts (and the inhibition) they should."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.processes import settings_env, wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.buoy.simulator import BuoyScenario, Episode, generate
from simulators.publisher import DevicePublisher
from simulators.recordings import read_recording, rows_of
from tests.paths import DATA, SHARED
from tests.running import count
from tests.running import pipeline as running_pipeline

pytestmark = pytest.mark.integration

NDBC = SHARED / "ndbc" / "buoy_44005_2012.dat"
REPLAYED_AS = "fuzhou-nb1"


@pytest.fixture(scope="module")
def pipeline(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Settings, psycopg.Connection]]:
    with running_pipeline(module_settings, tmp_path_factory.mktemp("logs")) as conn:
        yield module_settings, conn


def progress(conn: psycopg.Connection) -> str:
    """What the pipeline has stored so far (for a failure's message)."""
    return ", ".join(f"{table}: {count(conn, f'SELECT count(*) FROM {table}')}" for table in (
        "buoy_readings", "buoy_observations", "buoy_quality_hourly", "alert_events",
        "dead_letters")) + "; dead letters: " + str(conn.execute(
            "SELECT stage, left(reason, 200), count(*) FROM dead_letters GROUP BY 1, 2 "
            "LIMIT 5").fetchall())


def test_a_replayed_ndbc_record_is_stored_value_for_value(pipeline) -> None:
    settings, conn = pipeline
    recording = read_recording(NDBC)
    expected = {(row.ts, name, value) for row in rows_of(recording)
                for name, value in row.values.items()}
    out = subprocess.run([sys.executable, "-m", "app.cli", "replay", str(NDBC),
                          "--as", REPLAYED_AS, "--speed", "0"], env=settings_env(settings),
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "NDBC historical stdmet, 8347 rows with values" in " ".join(out.stderr.split())
    query = "SELECT count(*) FROM buoy_observations WHERE station = %s"
    wait_for(lambda: count(conn, query, REPLAYED_AS) >= len(expected), 300,
             f"{len(expected)} observations", lambda: progress(conn))
    stored = conn.execute("SELECT ts, variable, value, qc FROM buoy_observations "
                          "WHERE station = %s", (REPLAYED_AS,)).fetchall()
    assert {(ts, name, value) for ts, name, value, _ in stored} == expected
    assert len(stored) == len(expected)  # nothing doubled
    assert all(value is not None for _, _, value, _ in stored)  # 9-fills are no numbers
    flags = Counter(qc for *_, qc in stored)
    assert set(flags) <= {1, 3, 4} and flags[1] > 0.9 * len(stored)
    assert count(conn, "SELECT count(DISTINCT seq) FROM buoy_readings WHERE site = %s",
                 REPLAYED_AS) == 8347
    # the variables NDBC's stdmet has and the wire format carries, all of them
    assert {name for _, name, _ in expected} == {
        "wind_dir_deg", "wind_speed_m_s", "wind_gust_m_s", "wave_height_m", "wave_period_s",
        "pressure_hpa", "air_temp_c", "water_temp_c"}


def test_hypoxia_and_bloom_alert_once_and_a_stuck_do_sensor_is_inhibited(pipeline) -> None:
    settings, conn = pipeline
    catalog = load_catalog()
    stations = [catalog.site(s) for s in ("minjiang-eco1", "luoyuan-eco1", "fuzhou-nb2")]
    span = timedelta(hours=24)
    start = (datetime.now(UTC) - span).replace(second=0, microsecond=0)
    scenario = BuoyScenario(stations, start, span, seed=3,
                            hypoxia=[Episode("minjiang-eco1", 0.1, 0.7)],
                            bloom=[Episode("luoyuan-eco1", 0.2, 0.7)],
                            stuck_do=[Episode("fuzhou-nb2", 0.3, 1.0)])
    publisher = DevicePublisher(settings)
    try:
        publisher.run(generate(scenario))
    finally:
        publisher.close()
    # the last readings are judged once event time passes them: wait for the episodes' ends
    # (each station's partition goes at its own pace: one resolution says nothing of another)
    wait_for(lambda: count(conn, "SELECT count(DISTINCT rule || group_key) FROM alert_events "
                           "WHERE rule IN ('buoy-bloom-risk', 'buoy-hypoxia', "
                           "'buoy-hypoxia-severe') AND group_key IN ('minjiang-eco1', "
                           "'luoyuan-eco1') AND state = 'resolved'") >= 3, 180,
             "the bloom's and the hypoxia's resolutions")
    # the water's class is judged per hour by another processor, downstream of the readings:
    # its alerts come later than the readings' own, so they are waited for in their own right
    wait_for(lambda: count(conn, "SELECT count(DISTINCT rule || group_key) FROM alert_events "
                           "WHERE rule IN ('buoy-quality-below-target', 'buoy-quality-beyond-iv') "
                           "AND group_key IN ('minjiang-eco1', 'luoyuan-eco1') "
                           "AND state = 'resolved'") >= 3, 180,
             "the water-quality alerts' resolutions", lambda: progress(conn))

    def states(rule: str, station: str) -> list[tuple[str, str | None, bool]]:
        return conn.execute("SELECT state, inhibited, notify FROM alert_events WHERE rule = %s "
                            "AND group_key = %s ORDER BY at", (rule, station)).fetchall()

    assert [s for s, _, _ in states("buoy-hypoxia", "minjiang-eco1")] == [
        "pending", "firing", "resolved"]
    assert [s for s, _, _ in states("buoy-hypoxia-severe", "minjiang-eco1")] == [
        "pending", "firing", "resolved"]
    assert [s for s, _, _ in states("buoy-bloom-risk", "luoyuan-eco1")] == [
        "pending", "firing", "resolved"]
    assert states("buoy-bloom-risk", "minjiang-eco1") == []
    assert all(i is None and n == (s != "pending") for rule, st in (
        ("buoy-hypoxia", "minjiang-eco1"), ("buoy-bloom-risk", "luoyuan-eco1"))
        for s, i, n in states(rule, st))
    # the stuck sensor: its DO is flagged (a spike, then the flat line, counted at the
    # station's 10-minute interval: suspect after 20 minutes) before a value of it passes, so
    # the hypoxia it seems to show never even goes pending
    flagged = conn.execute(
        "SELECT qc, tests FROM buoy_observations WHERE station = 'fuzhou-nb2' AND "
        "variable = 'do_mg_l' AND value = 2.6 ORDER BY ts").fetchall()
    assert len(flagged) > 40 and all(qc in (3, 4) for qc, _ in flagged)
    assert "flat_line" in flagged[2][1] and "flat_line" in flagged[-1][1]
    assert flagged[-1][0] == 4
    assert states("buoy-hypoxia", "fuzhou-nb2") == []
    others = conn.execute(
        "SELECT rule, group_key, state FROM alert_events WHERE group_key IN ('minjiang-eco1', "
        "'luoyuan-eco1', 'fuzhou-nb2') AND notify AND rule NOT IN ('buoy-hypoxia', "
        "'buoy-hypoxia-severe', 'buoy-bloom-risk') ORDER BY group_key, at").fetchall()
    # the episodes also spoil the water's class: a quality alert each, once, resolved after;
    # the stuck sensor's hours are doubtful (qc 3) and not judged
    sequences: dict[tuple[str, str], list[str]] = {}
    for rule, station, state in others:  # in event-time order per station
        sequences.setdefault((rule, station), []).append(state)
    assert sequences == {
        ("buoy-quality-below-target", "luoyuan-eco1"): ["firing", "resolved"],
        ("buoy-quality-below-target", "minjiang-eco1"): ["firing", "resolved"],
        ("buoy-quality-beyond-iv", "minjiang-eco1"): ["firing", "resolved"],  # a match rule
    }
    assert count(conn, "SELECT count(*) FROM buoy_quality_hourly WHERE station = 'fuzhou-nb2' "
                 "AND qc = 3") >= 10
    hours = conn.execute("SELECT quality_class, limiting FROM buoy_quality_hourly WHERE "
                         "station = 'minjiang-eco1' ORDER BY hour").fetchall()
    assert len(hours) >= 11 and max(c for c, _ in hours) == 5  # DO at 1.2 mg/L: worse than IV


def test_every_ocean_panel_query_runs_as_the_read_only_role(pipeline) -> None:
    settings, _ = pipeline
    board = next(d for d in all_dashboards(settings) if d.uid == "fjsense-ocean")
    now = datetime.now(UTC)
    with psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True) as conn:
        for panel in board.panels:
            sql = expand(panel.sql, now - timedelta(days=2), now + timedelta(minutes=1), "10m",
                         {"station": ["minjiang-eco1", "luoyuan-eco1", "fuzhou-nb2"],
                          "variable": ["do_mg_l", "ph"]})
            cur = conn.execute(sql)
            assert tuple(c.name for c in cur.description) == panel.columns, panel.title
            assert cur.fetchall(), f"no rows for panel {panel.title!r}"


WYSS1 = DATA / "ndbc" / "wyss1_2026-08.ocean"


def test_one_impossible_value_costs_only_itself_on_a_real_estuary_record(
        pipeline, tmp_path: Path) -> None:
    """The real Winyah Bay record (15-minute NDBC realtime2 ocean, newest first), replayed with
    two impossible values planted in it: a pH of 15 and a DO saturation of 600 %. Each is a dead
    letter whose reason names it; every other value of those rows, and of the file, is stored."""
    settings, conn = pipeline
    lines = WYSS1.read_text().splitlines(keepends=True)
    # data lines 3 and 10 (newest first): 2026-08-23 14:30 and 12:45
    lines[2] = lines[2].replace("  7.30    MM", " 15.00    MM")
    lines[9] = lines[9].replace(" 73.8  5.20", "600.0  5.20")
    planted = tmp_path / "wyss1 with faults.ocean"
    planted.write_text("".join(lines))
    recording = read_recording(planted)
    expected = {(row.ts, name, value) for row in rows_of(recording)
                for name, value in row.values.items()}
    bad = {(datetime(2026, 8, 23, 14, 30, tzinfo=UTC), "ph", 15.0),
           (datetime(2026, 8, 23, 12, 45, tzinfo=UTC), "do_sat_pct", 600.0)}
    assert bad <= expected
    station = "sansha-eco1"
    out = subprocess.run([sys.executable, "-m", "app.cli", "replay", str(planted),
                          "--as", station], env=settings_env(settings), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    query = "SELECT count(*) FROM buoy_observations WHERE station = %s AND ts < '2026-09-01'"
    wait_for(lambda: count(conn, query, station) >= len(expected) - len(bad), 180,
             "the estuary's observations", lambda: progress(conn))
    stored = conn.execute("SELECT ts, variable, value FROM buoy_observations WHERE station = %s "
                          "AND ts < '2026-09-01'", (station,)).fetchall()
    assert set(stored) == expected - bad and len(stored) == len(expected) - len(bad)
    letters = conn.execute("SELECT reason FROM dead_letters WHERE source = %s AND reason LIKE "
                           "'impossible value%%' ORDER BY reason",
                           (f"fj/buoy/{station}/{station}-b1",)).fetchall()
    assert [r for (r,) in letters] == [
        "impossible value: do_sat_pct 600.0 % is impossible (outside [0.0, 500.0])",
        "impossible value: ph 15.0 pH is impossible (outside [0.0, 14.0])"]
    # the two rows' other values are there: temperature, salinity, DO mg/L …
    assert {(n, v) for ts, n, v in stored if ts == datetime(2026, 8, 23, 14, 30, tzinfo=UTC)} \
        == {("depth_m", 0.5), ("water_temp_c", 30.4), ("conductivity_ms_cm", 17.83),
            ("salinity_psu", 10.5), ("do_sat_pct", 80.5), ("do_mg_l", 5.7),
            ("turbidity_ntu", 10.0)}
