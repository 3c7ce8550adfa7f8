"""The TimescaleDB branch against real TimescaleDB 2.23 code (inside PGlite, from npm).

Migrations must create hypertables, the hourly continuous aggregate and the compression and
retention policies, and every dashboard panel must run on it. PGlite's socket server speaks
only the simple protocol, so rows go in as literal INSERT statements.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from dashboards.build import all_dashboards
from dashboards.grafana import MetricsPanel
from dashboards.macros import expand
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.deadletter import DEAD_LETTER_COLUMNS
from fjsense.sensorkind import Stream
from fjsense.settings import Settings
from fjsense.topics import BROADCAST_STATUS, DEVICE_CLOCK, AlertEvent, BroadcastStatus, DeviceClock
from kinds.buoy.kind import CHECKED, OBSERVATIONS, QUALITY
from kinds.buoy.kind import KIND as BUOY
from kinds.buoy.processor import BuoyQcProcessor, QualityProcessor, StationHours, StationQc
from kinds.buoy.simulator import BuoyScenario
from kinds.buoy.simulator import generate as buoy_generate
from kinds.cells.cell import KIND as CELL
from kinds.cells.coverage import AreaSums, CoverageParts, CoverageSums, SiteCounts
from kinds.cells.mr import COVERAGE
from kinds.cells.mr import KIND as MR
from kinds.cells.processor import CellKpiProcessor
from kinds.cells.simulator import CellScenario, CellsSimulator
from kinds.cells.simulator import generate as cells_generate
from kinds.pollution.gateway import reading_of
from kinds.pollution.hj212 import parse
from kinds.pollution.kind import KIND as POLLUTION
from kinds.pollution.processor import PollutionProcessor, SitePoints
from kinds.pollution.simulator import PollutionScenario
from kinds.pollution.simulator import generate as pollution_generate
from kinds.power.kind import KIND, PUE
from kinds.power.processor import PueProcessor, PueState
from kinds.power.simulator import PowerScenario, generate, scenario_sites
from kinds.tide.harmonics import TideModel
from kinds.tide.kind import CONSTITUENTS as TIDE_CONSTITUENTS
from kinds.tide.kind import FITS, PREDICTIONS
from kinds.tide.kind import KIND as TIDE
from kinds.tide.processor import StationGauges, TideProcessor
from kinds.tide.simulator import TideScenario, TideSimulator
from kinds.tide.simulator import generate as tide_generate
from sinks.migrate import bootstrap, migrate
from sinks.tables import stored_streams
from streams.contract import Batch
from streams.durable import encode
from streams.state import Stateless

START = datetime(2026, 7, 15, 4, 0, tzinfo=UTC)  # noon in Fuzhou, July


def insert(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Literal multi-row INSERTs, 200 rows each (larger messages crash PGlite's socket server)."""
    for i in range(0, len(rows), 200):
        values = sql.SQL(", ").join(
            sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, row)))
            for row in rows[i:i + 200])
        statement = sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)), values)
        conn.execute(statement.as_string(conn))


@pytest.fixture(scope="module")
def tsdb(timescaledb: str):
    with psycopg.connect(timescaledb, autocommit=True) as conn:
        applied = migrate(conn)
        yield conn, applied


def test_migrations_take_the_timescaledb_branch(tsdb):
    conn, _ = tsdb
    # every step applied, whichever test of the session's database migrated it first
    applied = [v for v, in conn.execute("SELECT version FROM schema_migrations")]
    assert sorted(applied) == sorted([
        "0001_pipeline", "0002_alerts", "0003_dead_letter_replay", "0004_aggregate_refresh",
        "0005_device_clock", "0006_alert_annotations", "0007_broadcast", "power/0001_tables",
        "power/0002_pue_hourly", "buoy/0001_tables",
                        "tide/0001_tables", "cell/0001_tables", "cell/0002_refused_kpis_null",
                        "mr/0001_tables", "pollution/0001_tables"])
    assert conn.execute("SELECT DISTINCT variant FROM schema_migrations").fetchall() == [
        ("timescaledb",)]
    hypertables = {r[0] for r in conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables")}
    assert hypertables == {"power_readings", "pue_windows", "alert_events", "dead_letters",
                           "pipeline_metrics", "buoy_readings", "buoy_observations",
                           "buoy_quality_hourly", "tide_readings", "tide_observations",
                           "tide_high_waters", "tide_predictions", "cell_readings",
                           "cell_kpis", "mr_readings", "coverage_windows", "pollution_packets",
                           "pollution_readings", "pollution_hourly"}  # not tide fits
    assert conn.execute("SELECT view_name, materialized_only FROM "
                        "timescaledb_information.continuous_aggregates").fetchall() == [
        ("pue_hourly", False)]
    jobs = set(conn.execute("SELECT proc_name, coalesce(hypertable_name, '') FROM "
                            "timescaledb_information.jobs WHERE application_name NOT LIKE "
                            "'Job History%'").fetchall())
    assert {("policy_compression", "power_readings"), ("policy_retention", "power_readings"),
            ("policy_retention", "pipeline_metrics")} <= jobs
    assert any(name == "policy_refresh_continuous_aggregate" for name, _ in jobs)
    assert migrate(conn) == []  # idempotent


def power_rows(now: datetime) -> tuple[list[tuple], list[tuple]]:
    """Readings and PUE windows of 2 sites × 2 h, as the sink would store them."""
    settings, catalog = Settings(), load_catalog()
    streams = stored_streams(settings)
    scenario = PowerScenario(scenario_sites(catalog, 2), START, timedelta(hours=2), seed=3)
    processor = PueProcessor(settings, catalog)
    states: dict[str, PueState] = {}
    readings, windows = [], []
    for msg in generate(scenario):  # each reading as a Kafka record of the raw topic would be
        site, value = msg.topic.split("/")[2], b"[" + msg.payload + b"]"
        readings += KIND.raw.rows(site.encode(), int(now.timestamp() * 1000), value)
        batch = Batch(site, KIND.raw.decode(value), now.timestamp())
        for topic, key, out in encode(processor.step(states.setdefault(site, PueState()), batch)):
            windows += streams[topic].rows(key.encode(), 0, out.encode())
    return readings, windows


def buoy_rows(now: datetime) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """Observations and hourly classes of 2 buoy stations × 3 h (spikes in): table → rows."""
    settings, catalog = Settings(), load_catalog()
    streams = stored_streams(settings)
    scenario = BuoyScenario(catalog.sites_of(BUOY.name)[:2], START, timedelta(hours=3),
                            spikes=0.02, seed=5)
    qc, quality = BuoyQcProcessor(settings, catalog), QualityProcessor(settings, catalog)
    checks: dict[str, StationQc] = {}
    hours: dict[str, StationHours] = {}
    outputs: list = []
    for msg in buoy_generate(scenario):
        site = msg.topic.split("/")[2]
        batch = Batch(site, BUOY.raw.decode(b"[" + msg.payload + b"]"), now.timestamp())
        for out in qc.step(checks.setdefault(site, StationQc()), batch):
            outputs.append(out)
            if out.topic == CHECKED.topic:
                outputs += quality.step(hours.setdefault(site, StationHours()),
                                        Batch(site, [out.value], now.timestamp()))
    tables: dict[str, tuple[tuple[str, ...], list[tuple]]] = {}
    for stream in (OBSERVATIONS, QUALITY):
        values = [o.value for o in outputs if o.topic == stream.topic]
        assert values, stream.topic
        table = stream.table
        assert table is not None
        tables[table.name] = (table.columns, streams[stream.topic].rows(
            None, 0, Stream.encode(values)))
    return tables


class FixedModels:
    """One fitted version per station, as ``fjsense tides fit`` would have stored it."""

    def __init__(self, models: dict[str, TideModel]) -> None:
        self.models = models

    def current(self, station: str) -> tuple[int, TideModel] | None:
        return 1, self.models[station]


def tide_rows(now: datetime) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """2 tide stations fitted on a simulated month, then 14 h of their readings through the
    stream (with a spike), and the fit's constituents and predictions: table → rows."""
    settings, catalog = Settings(), load_catalog()
    streams = stored_streams(settings)
    sites = catalog.sites_of(TIDE.name)[:2]
    span = timedelta(hours=14)
    history = TideSimulator().demo_history(catalog, START + span, span)
    models = {s.id: TideModel.fit(*history[s.id], s.lat) for s in sites}
    processor = TideProcessor(settings, catalog, FixedModels(models))
    states: dict[str, StationGauges] = {}
    outputs: list = []
    for k, msg in enumerate(tide_generate(TideScenario(sites, START, span, seed=7))):
        body = json.loads(msg.payload)
        body["level_m"] += 1.0 if k == 40 else 0.0  # a spike
        site = msg.topic.split("/")[2]
        batch = Batch(site, TIDE.raw.decode(json.dumps([body]).encode()), now.timestamp())
        outputs += processor.step(states.setdefault(site, StationGauges()), batch)
    tables: dict[str, tuple[tuple[str, ...], list[tuple]]] = {}
    for stream in TIDE.derived:
        values = [o.value for o in outputs if o.topic == stream.topic]
        assert values, stream.topic
        assert stream.table is not None
        tables[stream.table.name] = (stream.table.columns, streams[stream.topic].rows(
            None, 0, Stream.encode(values)))
    ahead = [now + timedelta(minutes=10 * k) for k in range(6 * 72)]
    for table, rows in (
            (FITS, [(s, 1, now, START - timedelta(days=30), START, 4320, len(m.constituents()),
                     m.mean, m.slope_per_day, 0.01, m.to_json()) for s, m in models.items()]),
            (TIDE_CONSTITUENTS, [tuple([s, 1] + [c[n] for n in TIDE_CONSTITUENTS.columns[2:]])
                                 for s, m in models.items() for c in m.constituents()]),
            (PREDICTIONS, [(s, t, float(p), 1) for s, m in models.items() for t, p in
                           zip(ahead, m.predict([t.timestamp() for t in ahead]), strict=True)])):
        tables[table.name] = (table.columns, rows)
    return tables


def cell_rows(now: datetime) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """KPIs and coverage windows of 2 sites in each of 2 districts × 30 min: table → rows."""
    settings, catalog = Settings(), load_catalog()
    streams = stored_streams(settings)
    sites = CellsSimulator.sites(catalog, ["gulou", "pingtan"], per_district=2)
    scenario = CellScenario(sites, START, timedelta(minutes=30), timedelta(minutes=5),
                            phones=40, seed=9)
    kpi, parts, sums = (CellKpiProcessor(settings, catalog), CoverageParts(settings, catalog),
                        CoverageSums(settings, catalog))
    counts: dict[str, SiteCounts] = {}
    sums_of: dict[str, AreaSums] = {}
    outputs: list = []
    for msg in cells_generate(scenario):
        site = msg.topic.split("/")[2]
        kind = CELL if msg.topic.startswith("fj/cell/") else MR
        batch = Batch(site, kind.raw.decode(b"[" + msg.payload + b"]"), now.timestamp())
        if kind is CELL:
            outputs += kpi.step(Stateless(), batch)
            continue
        for part in parts.step(counts.setdefault(site, SiteCounts()), batch):
            outputs += sums.step(sums_of.setdefault(part.key, AreaSums()),
                                 Batch(part.key, [part.value], now.timestamp()))
    tables: dict[str, tuple[tuple[str, ...], list[tuple]]] = {}
    for stream in (*CELL.derived, COVERAGE):
        assert stream.table is not None
        latest = {tuple(getattr(o.value, k) for k in stream.table.key): o.value
                  for o in outputs if o.topic == stream.topic}  # an upsert keeps the last
        assert latest, stream.topic
        tables[stream.table.name] = (stream.table.columns, streams[stream.topic].rows(
            None, 0, Stream.encode(list(latest.values()))))
    return tables


def pollution_rows(now: datetime) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """Two hours of Lianban's HJ 212 packets through the processor: factors, hourly rows."""
    settings, catalog = Settings(), load_catalog()
    streams = stored_streams(settings)
    mn = "350104LBWS000000000001"
    site = catalog.device(mn)[0]  # type: ignore[index]
    scenario = PollutionScenario([site], START, timedelta(hours=2, minutes=10), {mn: "pw"})
    processor, state, outputs = PollutionProcessor(settings, catalog), SitePoints(), []
    for msg in pollution_generate(scenario):
        reading = POLLUTION.reading.model_validate_json(json.dumps(reading_of(parse(msg.payload))))
        outputs += processor.step(state, Batch(site.id, [reading], now.timestamp()))
    tables: dict[str, tuple[tuple[str, ...], list[tuple]]] = {}
    for stream in POLLUTION.derived:
        if stream.table is None:
            continue
        values = [o.value for o in outputs if o.topic == stream.topic]
        assert values, stream.topic
        tables[stream.table.name] = (stream.table.columns, streams[stream.topic].rows(
            None, 0, Stream.encode(values)))
    return tables


@pytest.fixture(scope="module")
def loaded(tsdb) -> tuple[psycopg.Connection, list[tuple], datetime]:
    """TimescaleDB with readings, windows, an alert (acknowledged, delivered), a dead letter
    and a metric in it."""
    conn, _ = tsdb
    now = datetime.now(UTC)
    readings, windows = power_rows(now)
    streams = stored_streams(Settings())
    insert(conn, "power_readings", KIND.table.columns, readings)
    insert(conn, "pue_windows", PUE.table.columns, windows)  # type: ignore[union-attr]
    alert = AlertEvent(
        rule="pue-above-target", group_key="changle-dc1", group_by="site", state="firing",
        at=START + timedelta(minutes=40), value=1.41, threshold=1.35, severity="warning",
        labels={"site": "changle-dc1"}, summary="PUE (15 min) at Changle is 1.410 (target 1.35)",
        inhibited=None, notify=True, site="changle-dc1", region="fuzhou")
    alerts = streams["fj.alerts"]
    insert(conn, "alert_events", alerts.table.columns,  # type: ignore[union-attr]
           alerts.rows(b"changle-dc1", 0, Stream.encode([alert])))
    insert(conn, "alert_acks", ("rule", "group_key", "fired_at", "acked_by", "acked_at", "comment"),
           [("pue-above-target", "changle-dc1", alert.at, "duty", alert.at + timedelta(minutes=3),
             "chiller crew on site")])
    insert(conn, "alert_notifications", ("id", "receiver", "route", "group_labels", "reason",
                                         "events", "created_at", "delivered_at"),
           [("n1", "webhook", "route-1", '{"rule": "pue-above-target"}', "new", "[]", now, now)])
    insert(conn, "dead_letters", DEAD_LETTER_COLUMNS, [
        (now, "ingest", "payload is not a JSON object", "fj/power/x/y", b"[]", "sha")])
    insert(conn, "pipeline_metrics", ("ts", "component", "topic", "rows_written", "consumer_lag"),
           [(now, "sink", "fj.raw.power", len(readings), 0)])
    for table, (columns, rows) in (buoy_rows(now) | tide_rows(now) | cell_rows(now)
                                   | pollution_rows(now)).items():
        insert(conn, table, columns, rows)
    tamper = AlertEvent(
        rule="pollution-tamper-stuck", group_key="350104LBWS000000000001", group_by="device",
        state="firing", at=START + timedelta(minutes=50), value=7300.0, threshold=7200.0,
        severity="critical", labels={}, summary="Tamper sign: a value unchanged for 7300 s",
        inhibited=None, notify=True, site="fz-lianban-wwtp", region="fuzhou")
    insert(conn, "alert_events", alerts.table.columns,  # type: ignore[union-attr]
           alerts.rows(b"fz-lianban-wwtp", 0, Stream.encode([tamper])))
    outage = AlertEvent(
        rule="cell-outage", group_key="fz-gulou-001-c1", group_by="device", state="firing",
        at=START + timedelta(minutes=20), value=None, threshold=None, severity="warning",
        labels={"device": "fz-gulou-001-c1"}, summary="Cell fz-gulou-001-c1 silent",
        inhibited=None, notify=True, site="fz-gulou-001", region="fuzhou")
    insert(conn, "alert_events", alerts.table.columns,  # type: ignore[union-attr]
           alerts.rows(b"fz-gulou-001", 0, Stream.encode([outage])))
    clocks = streams[DEVICE_CLOCK]
    behind = DeviceClock(device="changle-dc1-m03", kind="power", site="changle-dc1",
                         offset_s=-600.4, samples=12, updated_at=now)
    insert(conn, "device_clock", clocks.table.columns,  # type: ignore[union-attr]
           clocks.rows(b"changle-dc1", 0, Stream.encode([behind])))
    waiting = BroadcastStatus(device="xiamen-zengcuoan-beach", site="xiamen-zengcuoan-beach",
                              district="siming", ts=now, unacked_s=640.0, waiting=1, sent=1,
                              acked=0)
    status = streams[BROADCAST_STATUS]
    insert(conn, "broadcast_status", status.table.columns,  # type: ignore[union-attr]
           status.rows(b"xiamen-zengcuoan-beach", 0, Stream.encode([waiting])))
    conn.execute("CALL refresh_continuous_aggregate('pue_hourly', NULL, NULL)")
    assert len(windows) == 2 * 118 and sum(w[6] is not None for w in windows) > 200
    return conn, windows, now


def test_every_panel_query_runs_on_timescaledb(loaded):
    conn, _, now = loaded
    settings = Settings()
    for dashboard in all_dashboards(settings):
        for panel in dashboard.panels:
            if isinstance(panel, MetricsPanel):
                continue  # PromQL: its metric names are checked against running components
            query = expand(panel.sql, START - timedelta(hours=1), now + timedelta(minutes=1),
                           "5m", {"site": ["changle-dc1", "anxi-dc1"],
                                  "station": ["minjiang-eco1", "luoyuan-eco1",
                                              "minjiang-tide", "pingtan-tide"],
                                  "variable": ["do_mg_l", "ph"],
                                  "district": ["gulou", "pingtan"],
                                  "mn": ["350104LBWS000000000001"]})
            cur = conn.execute(query)
            assert tuple(c.name for c in cur.description) == panel.columns, panel.title
            assert cur.fetchall(), f"{dashboard.uid}: no rows for {panel.title!r}"
    hourly = conn.execute("SELECT site, pue FROM pue_hourly ORDER BY bucket, site").fetchall()
    assert len(hourly) == 4 and all(1.2 < pue < 1.7 for _, pue in hourly)


@pytest.mark.integration
def test_hourly_pue_means_the_same_hour_on_both_backends(loaded, settings: Settings):
    """The continuous aggregate (TimescaleDB) and the view (PostgreSQL) over the same windows:
    both bucket a window by the hour it starts in."""
    tsdb_conn, windows, _ = loaded
    bootstrap(settings)
    with psycopg.connect(Credentials(settings).dsn("admin")) as pg:
        with pg.cursor().copy(sql.SQL("COPY pue_windows ({}) FROM STDIN").format(
                sql.SQL(", ").join(map(sql.Identifier, PUE.table.columns)))) as copy:  # type: ignore[union-attr]
            for row in windows:
                copy.write_row(row)
        pg.commit()
        query = ("SELECT bucket, site, round(pue::numeric, 9), windows FROM pue_hourly "
                 "ORDER BY bucket, site")
        on_postgres = pg.execute(query).fetchall()
    on_timescaledb = tsdb_conn.execute(query).fetchall()
    assert len(on_postgres) == 4 and on_postgres == on_timescaledb
    assert on_postgres[0][0] == START  # the first hour starts at the first window's start


def test_the_ocean_one_map_colours_each_station_by_its_worst_state(loaded):
    conn, _, _ = loaded
    board = next(d for d in all_dashboards(Settings()) if d.uid == "fjsense-ocean-map")
    end = START + timedelta(hours=2, minutes=59)  # the buoys' last simulated hour
    query = expand(board.panels[1].sql, START, end, "5m", {})

    def rows() -> dict[str, tuple]:
        return {r[0]: (r[2], r[5], r[6], r[7], r[8]) for r in conn.execute(query)}

    mapped = rows()
    catalog = load_catalog()
    assert len(mapped) == (len(catalog.sites_of(BUOY.name)) + len(catalog.sites_of(TIDE.name))
                           + len(catalog.broadcast_points))
    # each buoy's level, judged apart: its latest class (III 2, IV 3, worse 4) against the
    # last hour's QC (failed 2, suspect 1, nothing 1)
    for station, in conn.execute("SELECT DISTINCT station FROM buoy_observations"):
        klass = conn.execute(
            f"SELECT quality_class FROM buoy_quality_hourly WHERE station = '{station}' AND "
            f"hour <= '{end.isoformat()}' ORDER BY hour DESC LIMIT 1").fetchone()
        worst = conn.execute(
            f"SELECT max(qc) FROM buoy_observations WHERE station = '{station}' AND ts > "
            f"'{(end - timedelta(hours=1)).isoformat()}' AND ts <= '{end.isoformat()}'"
        ).fetchone()[0]
        expected = max({3: 2, 4: 3, 5: 4}.get(klass[0] if klass else 0, 0),
                       {4: 2, 3: 1}.get(worst, 0))
        assert mapped[station][:2] == ("buoy", expected), station
    assert mapped["minjiang-eco1"] == ("buoy", 2, "yellow", "class III", "")
    assert mapped["luoyuan-eco1"] == ("buoy", 2, "yellow", "class I; a value failed QC", "")
    assert mapped["pingtan-b1"] == ("buoy", 1, "blue", "no reading in the last hour", "")
    assert mapped["xiamen-zengcuoan-beach"] == (
        "broadcast point", 3, "orange", "waiting 640 s for an acknowledgement", "")
    assert mapped["xiamen-gaoqi-port"] == ("broadcast point", 0, "green", "no report", "")
    # a firing red tide warning makes its gauge red; its resolution, the gauge's own state
    red = AlertEvent(rule="tide-high-water-red", group_key="minjiang-tide", group_by="site",
                     state="firing", at=START + timedelta(hours=1), value=None, threshold=None,
                     severity="red", labels={}, summary="Red tide warning", inhibited=None,
                     notify=True, site="minjiang-tide", region="fuzhou")
    alerts = stored_streams(Settings())["fj.alerts"]
    insert(conn, "alert_events", alerts.table.columns,  # type: ignore[union-attr]
           alerts.rows(b"minjiang-tide", 0, Stream.encode([red])))
    assert rows()["minjiang-tide"][1:3] == (4, "red")
    assert rows()["minjiang-tide"][4] == "tide-high-water-red"
    conn.execute("DELETE FROM alert_events WHERE rule = 'tide-high-water-red'")
    assert rows()["minjiang-tide"][1:3] != (4, "red")
