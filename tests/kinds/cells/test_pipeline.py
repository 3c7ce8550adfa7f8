"""5G cells through real Mosquitto, Tansu and PostgreSQL: simulated KPIs and measurement
reports of Gulou's and Pingtan's sites give coverage windows and availability equal to an
independent computation from the raw rows stored; samples with indexes outside 0-126 are
dead-lettered one by one; a late batch corrects its window inside the allowed lateness and is
dead-lettered after it; an outage raises one alert per cell and one per site, then resolves."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import h3
import psycopg
import pytest

from app.processes import wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.cells.mr import KIND as MR
from kinds.cells.simulator import CellScenario, CellsSimulator, Outage, kpi_messages, mr_messages
from simulators.messages import SimMessage
from simulators.publisher import DevicePublisher
from tests.running import count, pipeline

pytestmark = pytest.mark.integration

CATALOG = load_catalog()
DISTRICT_OF = {s.id: s.district for s in CATALOG.sites_of("cell")}
KPI_EVERY = timedelta(minutes=1)  # faster than the 15 minutes of real OMCs


@pytest.fixture(scope="module")
def cells(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Settings, psycopg.Connection]]:
    settings = Settings(**{**module_settings.model_dump(),
                           "cell": {"report_interval_seconds": KPI_EVERY.total_seconds()},
                           "mr": {"allowed_lateness_seconds": 600}})
    with pipeline(settings, tmp_path_factory.mktemp("cells")) as conn:
        yield settings, conn


def publish(settings: Settings, messages: list[SimMessage]) -> None:
    publisher = DevicePublisher(settings)
    try:
        publisher.run(messages)
    finally:
        publisher.close()


def start_of_run(hours_back: float) -> datetime:
    moment = datetime.now(UTC) - timedelta(hours=hours_back)
    return datetime.fromtimestamp(moment.timestamp() // 900 * 900, UTC)


def expected_coverage(conn: psycopg.Connection, sites: list[str], settings: Settings
                      ) -> dict[tuple, tuple[int, int]]:
    """(window, area_type, area) → (samples, good), straight from the stored raw samples."""
    config = MR.section(settings)
    rows = conn.execute(
        "SELECT site, (s->>'ts')::timestamptz, (s->>'lat')::float, (s->>'lon')::float,\n"
        "       (s->>'rsrp_idx')::int, (s->>'sinr_idx')::int\n"
        "FROM mr_readings, jsonb_array_elements(samples) s WHERE site = ANY(%s)",
        (sites,)).fetchall()
    counts: Counter = Counter()
    for site, ts, lat, lon, rsrp, sinr in rows:
        start = datetime.fromtimestamp(ts.timestamp() // 900 * 900, UTC)
        good = rsrp - 157 >= config.rsrp_good_dbm and sinr / 2 - 23.5 >= config.sinr_good_db
        for key in ((start, "district", DISTRICT_OF[site]),
                    (start, "h3", h3.latlng_to_cell(lat, lon, config.h3_resolution))):
            counts[(*key, "n")] += 1
            counts[(*key, "good")] += good
    return {k[:3]: (counts[k], counts[(*k[:3], "good")]) for k in counts if k[3] == "n"}


def stored_coverage(conn: psycopg.Connection, areas: set[tuple[str, str]]
                    ) -> dict[tuple, tuple[int, int]]:
    rows = conn.execute("SELECT window_start, area_type, area, samples, good_samples, "
                        "coverage_rate FROM coverage_windows").fetchall()
    out = {}
    for start, area_type, area, samples, good, rate in rows:
        if (area_type, area) in areas:
            assert rate == good / samples
            out[(start, area_type, area)] = (samples, good)
    return out


def test_coverage_and_availability_equal_an_independent_computation(cells) -> None:
    settings, conn = cells
    sites = CellsSimulator.sites(CATALOG, ["gulou", "pingtan"], per_district=3)
    scenario = CellScenario(sites, start_of_run(3), timedelta(minutes=45), KPI_EVERY,
                            phones=90, seed=5, bad_index=0.01)
    kpis, reports = list(kpi_messages(scenario)), list(mr_messages(scenario))
    publish(settings, sorted(kpis + reports, key=lambda m: m.at))
    ids = [s.id for s in sites]
    wait_for(lambda: count(conn, "SELECT count(*) FROM mr_readings WHERE site = ANY(%s)", ids)
             == len(reports) and count(conn, "SELECT count(*) FROM cell_kpis WHERE site = "
                                       "ANY(%s)", ids) == len(kpis), 180, "the reports stored")
    want = expected_coverage(conn, ids, settings)
    areas = {(t, a) for _, t, a in want}
    wait_for(lambda: stored_coverage(conn, areas) == want, 120, "coverage as computed",
             lambda: f"{len(stored_coverage(conn, areas))} windows stored, {len(want)} expected")
    published = sum(r.payload.count(b'"rsrp_idx"') for r in reports)
    refused = count(conn, "SELECT count(*) FROM dead_letters WHERE reason LIKE '%%outside the "
                    "reported range 0-126' AND source LIKE 'fj/mr/%%'")
    assert 0 < refused < published / 50  # 1% of samples sent with a bad index, one by one
    assert sum(n for (_, t, _), (n, _) in want.items() if t == "district") == published - refused
    # availability per cell and day, and per district and day, from the stored KPIs
    got = conn.execute("SELECT device, day, availability FROM cell_daily WHERE site = ANY(%s)",
                       (ids,)).fetchall()
    raw = conn.execute(
        "SELECT device, ts, available_s, period_s FROM cell_readings WHERE site = ANY(%s)",
        (ids,)).fetchall()
    sums: dict[tuple, list[float]] = {}
    for device, ts, available, period in raw:
        day = (ts + timedelta(hours=8)).date()
        part = sums.setdefault((device, day), [0.0, 0.0])
        part[0] += available
        part[1] += period
    assert len(got) == len(sums) > 0
    for device, day, availability in got:
        a, p = sums[(device, day)]
        assert math.isclose(availability, a / p, rel_tol=1e-12)


def mr(cell: str, seq: int, at: datetime, n: int, rsrp: int = 70) -> SimMessage:
    stamp = at.isoformat().replace("+00:00", "Z")
    samples = ",".join(f'{{"ts":"{stamp}","lat":26.2210,"lon":118.8630,"rsrp_idx":{rsrp},'
                       f'"sinr_idx":60}}' for _ in range(n))
    body = f'{{"device":"{cell}","seq":{seq},"ts":"{stamp}","samples":[{samples}]}}'
    site = cell.rsplit("-c", 1)[0]
    return SimMessage(at.timestamp(), f"fj/mr/{site}/{cell}", body.encode(), cell, (seq,))


def test_a_late_batch_corrects_its_window_until_the_lateness_has_passed(cells) -> None:
    settings, conn = cells
    cell, start = "fz-minqing-001-c1", start_of_run(2)

    def window() -> tuple[int, int] | None:
        row = conn.execute("SELECT samples, good_samples FROM coverage_windows WHERE "
                           "area_type = 'district' AND area = 'minqing' AND window_start = %s",
                           (start,)).fetchone()
        return None if row is None else (row[0], row[1])

    publish(settings, [mr(cell, 1, start + timedelta(minutes=5), 10),
                       mr(cell, 2, start + timedelta(minutes=20), 4)])
    wait_for(lambda: window() == (10, 10), 60, "the first window", window)
    publish(settings, [mr(cell, 3, start + timedelta(minutes=12), 5, rsrp=30)])  # 8 min late
    wait_for(lambda: window() == (15, 10), 60, "the correction", window)
    publish(settings, [mr(cell, 4, start + timedelta(minutes=40), 1),
                       mr(cell, 5, start + timedelta(minutes=14), 6)])  # 26 min late
    wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE reason LIKE "
                           "'late: 6 measurement samples of fz-minqing-001%%'") == 1, 60,
             "the late batch's dead letter")
    assert window() == (15, 10)
    assert count(conn, "SELECT count(*) FROM coverage_windows WHERE area_type = 'district' "
                 "AND area = 'minqing' AND window_start = %s", start) == 1
    assert count(conn, "SELECT count(*) FROM mr_readings WHERE device = %s", cell) == 5


def test_an_outage_raises_one_alert_per_cell_and_site_and_resolves(cells) -> None:
    settings, conn = cells
    sites = CellsSimulator.sites(CATALOG, ["yongtai"], per_district=3)
    down_site, down_cell = sites[1].id, sites[2].devices[0].id
    scenario = CellScenario(sites, start_of_run(2), timedelta(minutes=60), KPI_EVERY,
                            outages=[Outage(down_site, 0.3, 0.6), Outage(down_cell, 0.3, 0.6)])
    kpis = list(kpi_messages(scenario))
    publish(settings, kpis)

    def events(rule: str) -> list[tuple[str, str]]:
        return [(g, s) for g, s in conn.execute(
            "SELECT group_key, state FROM alert_events WHERE rule = %s AND state <> 'pending' "
            "AND group_key LIKE 'fz-yongtai-%%' ORDER BY group_key, at", (rule,)).fetchall()]

    cells_down = sorted([d.id for d in sites[1].devices] + [down_cell])
    wait_for(lambda: [s for _, s in events("cell-outage")].count("resolved") == 4, 120,
             "each outage's resolution", lambda: conn.execute(
                 "SELECT rule, state, count(*), min(group_key) FROM alert_events "
                 "GROUP BY 1, 2").fetchall())
    assert events("cell-outage") == [(c, s) for c in cells_down for s in ("firing", "resolved")]
    assert events("site-outage") == [(down_site, "firing"), (down_site, "resolved")]
    assert count(conn, "SELECT count(*) FROM cell_kpis WHERE site = ANY(%s)",
                 [s.id for s in sites]) == len(kpis)
    # the period after the outage says what was lost
    back = conn.execute("SELECT min(available_s), min(availability) FROM cell_kpis WHERE "
                        "device = %s", (down_cell,)).fetchone()
    assert back[0] < KPI_EVERY.total_seconds() and back[1] < 1


def test_every_cell_panel_query_runs_as_the_read_only_role(cells) -> None:
    settings, _ = cells
    board = next(d for d in all_dashboards(settings) if d.uid == "fjsense-cells")
    end = start_of_run(2) + timedelta(minutes=27)  # within the outage of the test before
    with psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True) as conn:
        for panel in board.panels:
            sql = expand(panel.sql, end - timedelta(hours=4), end, "5m",
                         {"district": ["gulou", "pingtan", "yongtai"]})
            cur = conn.execute(sql)
            assert tuple(c.name for c in cur.description) == panel.columns, panel.title
            assert cur.fetchall(), f"no rows for panel {panel.title!r}"
