"""Tide stations through real Mosquitto, Tansu and PostgreSQL: the real Honolulu record
replayed with ``fjsense replay`` is stored hour for hour, fitted with ``fjsense tides fit`` on
its first half and predicted with ``fjsense tides predict`` on its second as well as UTide
itself does; faults injected into the fit span do not spoil the fit (QC keeps them out); and
a simulated 1.2 m typhoon surge on a spring tide at Xiamen raises the surge alert and the
yellow warning once, at the right simulated time, and resolves them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
import utide

from app.processes import settings_env, wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from kinds.tide.harmonics import TideModel
from kinds.tide.kind import COLOURS
from kinds.tide.simulator import GAUGES, Surge, TideScenario, generate, high_water_near
from simulators.publisher import DevicePublisher
from simulators.recordings import read_recording
from sinks.migrate import bootstrap
from tests.paths import DATA, SHARED
from tests.running import count, pipeline

pytestmark = pytest.mark.integration

HNL = SHARED / "uhslc" / "HNL2010.asc"
CATALOG = """\
sites:
  - id: honolulu-tide
    name: Honolulu (UHSLC 057), replayed
    kind: tide
    region: xiamen
    lat: 21.3067
    lon: -157.867
    datum: chart datum
    warning_levels: {blue: 2.2, yellow: 2.4, orange: 2.6, red: 2.8}
    devices: [{id: honolulu-tg1}]
  - id: honolulu-faulty
    name: Honolulu with a spike and a stuck gauge
    kind: tide
    region: xiamen
    lat: 21.3067
    lon: -157.867
    datum: chart datum
    warning_levels: {blue: 2.2, yellow: 2.4, orange: 2.6, red: 2.8}
    devices: [{id: honolulu-ftg1}]
  - id: can1998-tide
    name: UTide's example gauge, January 1998 (latitude nominal)
    kind: tide
    region: xiamen
    lat: 49.0
    lon: -123.0
    datum: chart datum
    warning_levels: {blue: 3.0, yellow: 3.2, orange: 3.4, red: 3.6}
    devices: [{id: can1998-tg1}]
"""
CAN1998 = DATA / "tide" / "can1998_uhslc_fast.csv"
FIRST_HALF = ("2010-01-01T00:00", "2010-07-02T11:00")  # 4,380 hours
SECOND_HALF = ("2010-07-02T12:00", "2010-12-31T23:00")
# the simulated Xiamen month: fitted on its first 30 days, then a 1.2 m surge on the spring
# high water of 21 October 2026 (6.84 m above chart datum: with the surge, yellow)
SIM_START = datetime(2026, 9, 20, tzinfo=UTC)
FIT_DAYS = 30
SIM_END = datetime(2026, 10, 23, 12, tzinfo=UTC)
SURGE_NEAR = datetime(2026, 10, 21, 23, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def tides(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Settings, psycopg.Connection]]:
    folder = tmp_path_factory.mktemp("tides")
    (folder / "catalog.yaml").write_text(CATALOG)
    settings = Settings(**{**module_settings.model_dump(),
                           "catalog": {"file": folder / "catalog.yaml"},
                           "tide": {"model_refresh_seconds": 1}})
    bootstrap(settings)
    LocalStack(settings).refresh_mqtt_auth()  # the broker learns the Honolulu gauges
    with pipeline(settings, folder) as conn:
        yield settings, conn


def fjsense(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "app.cli", *args],
                         env=settings_env(settings), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return out


def stored(conn: psycopg.Connection, station: str, n: int) -> None:
    query = "SELECT count(*) FROM tide_observations WHERE station = %s"
    wait_for(lambda: count(conn, query, station) >= n, 300, f"{n} observations of {station}",
             lambda: f"{count(conn, query, station)} stored; dead letters: " + str(
                 conn.execute("SELECT left(reason, 200) FROM dead_letters LIMIT 3").fetchall()))


def predicted(settings: Settings, station: str) -> np.ndarray:
    out = fjsense(settings, "tides", "predict", station, "--from", SECOND_HALF[0],
                  "--to", SECOND_HALF[1], "--json")
    rows = json.loads(out.stdout)
    assert len(rows) == 4380 and rows[0]["ts"] == "2010-07-02T12:00:00Z"
    return np.array([r["predicted_m"] for r in rows])


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


@pytest.fixture(scope="module")
def honolulu(tides) -> tuple[np.ndarray, np.ndarray]:
    rows = read_recording(HNL).rows
    return (np.array([r.ts.timestamp() for r in rows]),
            np.array([r.values["level_m"] for r in rows]))


def test_replay_stores_every_hour_once_and_the_fit_predicts_as_utide_does(tides, honolulu
                                                                          ) -> None:
    settings, conn = tides
    out = fjsense(settings, "replay", str(HNL), "--as", "honolulu-tide")
    assert "8760 rows with values" in " ".join(out.stderr.split())
    stored(conn, "honolulu-tide", 8760)
    rows = conn.execute("SELECT extract(epoch FROM ts), level_m FROM tide_observations "
                        "WHERE station = 'honolulu-tide' ORDER BY ts").fetchall()
    t, h = honolulu
    assert len(rows) == 8760  # nothing doubled
    assert [(float(a), b) for a, b in rows] == list(zip(t.tolist(), h.tolist(), strict=True))
    assert count(conn, "SELECT count(DISTINCT seq) FROM tide_readings "
                 "WHERE site = 'honolulu-tide'") == 8760
    assert count(conn, "SELECT count(*) FROM tide_observations WHERE station = "
                 "'honolulu-tide' AND predicted_m IS NOT NULL") == 0  # no constituents yet

    fit = fjsense(settings, "tides", "fit", "honolulu-tide", "--from", FIRST_HALF[0],
                  "--to", FIRST_HALF[1])
    assert "version 1" in fit.stdout and "M2" in fit.stdout
    ours = h[4380:] - predicted(settings, "honolulu-tide")
    stamps = (t * 1e6).astype("datetime64[us]")
    coef = utide.solve(stamps[:4380], h[:4380], lat=21.3067, verbose=False)
    theirs = h[4380:] - utide.reconstruct(stamps[4380:], coef, verbose=False).h
    print(f"\nHNL 2010 through the pipeline: residual RMS {rms(ours):.4f} m (utide "
          f"{rms(theirs):.4f} m); about its mean {ours.std():.4f} m (utide {theirs.std():.4f})")
    assert rms(ours) <= 1.1 * rms(theirs) and ours.std() <= 1.1 * theirs.std()
    version, samples, constituents = conn.execute(
        "SELECT version, samples, constituents FROM tide_fits WHERE station = "
        "'honolulu-tide'").fetchone()
    assert (version, constituents) == (1, count(
        conn, "SELECT count(*) FROM tide_constituents WHERE station = 'honolulu-tide'"))
    assert 4370 < samples < 4380  # the Chile tsunami's hours failed QC
    m2 = conn.execute("SELECT amplitude_m, amplitude_ci_m FROM tide_constituents WHERE "
                      "station = 'honolulu-tide' AND name = 'M2'").fetchone()
    assert m2[0] == pytest.approx(0.166, abs=0.003) and 0 < m2[1] < 0.01


def test_a_spike_and_a_stuck_gauge_in_the_fit_span_are_kept_out_by_qc(tides, honolulu,
                                                                       tmp_path: Path) -> None:
    settings, conn = tides
    t, h = honolulu
    faulty = h.copy()
    faulty[1000] += 8.0  # a spike
    faulty[2000:2240] = 0.5  # the float sticks low in its well for ten days
    path = tmp_path / "HNL2010-faulty.asc"
    path.write_text("".join(f"{113225 + (a - t[0]) / 86400:.7f} {round(v * 1000)}\n"
                            for a, v in zip(t, faulty, strict=True)))
    fjsense(settings, "replay", str(path), "--as", "honolulu-faulty")
    stored(conn, "honolulu-faulty", 8760)
    flagged = conn.execute("SELECT ts, tests FROM tide_observations WHERE station = "
                           "'honolulu-faulty' AND qc <> 1 AND ts < '2010-07-01'").fetchall()
    assert any("spike" in tests for _, tests in flagged)
    assert sum("flat_line" in tests for _, tests in flagged) >= 230
    fjsense(settings, "tides", "fit", "honolulu-faulty", "--from", FIRST_HALF[0],
            "--to", FIRST_HALF[1])
    clean = rms(h[4380:] - predicted(settings, "honolulu-tide"))
    with_faults = rms(h[4380:] - predicted(settings, "honolulu-faulty"))
    unchecked = rms(h[4380:] - TideModel.fit(t[:4380], faulty[:4380], 21.3067).predict(t[4380:]))
    print(f"\nresidual RMS: clean {clean:.4f} m, faults with QC {with_faults:.4f} m "
          f"({with_faults / clean - 1:+.1%}), faults fitted unchecked {unchecked:.4f} m "
          f"({unchecked / clean - 1:+.1%})")
    assert abs(with_faults / clean - 1) < 0.05
    assert unchecked / clean - 1 > 0.05  # the faults matter: without QC the fit is spoiled


def xiamen_scenario(settings: Settings) -> TideScenario:
    site = catalog_of(settings).site("xiamen-tide")
    peak = high_water_near(GAUGES["xiamen-tide"], SURGE_NEAR.timestamp(), within=3 * 3600)
    return TideScenario([site], SIM_START, SIM_END - SIM_START, seed=11,
                        surges=[Surge("xiamen-tide", 1.2, peak, hours=12.0)])


def publish(settings: Settings, messages) -> None:
    publisher = DevicePublisher(settings)
    try:
        publisher.run(messages)
    finally:
        publisher.close()


def test_a_surge_on_a_spring_tide_raises_surge_and_yellow_once_and_resolves(tides) -> None:
    settings, conn = tides
    scenario = xiamen_scenario(settings)
    site, surge = scenario.sites[0], scenario.surges[0]
    fit_end = SIM_START + timedelta(days=FIT_DAYS)
    messages = list(generate(scenario))
    history = [m for m in messages if m.at < fit_end.timestamp()]
    publish(settings, history)
    stored(conn, "xiamen-tide", len(history))
    fjsense(settings, "tides", "fit", "xiamen-tide", "--from", SIM_START.isoformat(),
            "--to", fit_end.isoformat())
    # the worker looks for new constituents every second (tide.model_refresh_seconds)
    publish(settings, [m for m in messages if m.at >= fit_end.timestamp()])
    stored(conn, "xiamen-tide", len(messages))
    wait_for(lambda: count(conn, "SELECT count(*) FROM alert_events WHERE rule = "
                           "'tide-high-water-yellow' AND state = 'resolved'") >= 1, 120,
             "the yellow warning's resolution at the next high water")
    step = scenario.interval.total_seconds()
    times = [m.at for m in messages if m.at >= fit_end.timestamp()]
    rises = next(a for a in times if surge.at(a) > settings.tide.surge_alert_m)
    falls = next(a for a in times if a > surge.peak and surge.at(a) < settings.tide.surge_clear_m)
    top = max(times, key=lambda a: scenario.level(site, a))
    expected = COLOURS[site.spec.warning_levels.reached(scenario.level(site, top))]
    assert expected == "yellow"

    def events(rule: str) -> list[tuple[str, float]]:
        return [(s, at.timestamp()) for s, at in conn.execute(
            "SELECT state, at FROM alert_events WHERE rule = %s AND group_key = 'xiamen-tide' "
            "AND state <> 'pending' ORDER BY at", (rule,)).fetchall()]

    surge_events = events("tide-surge")
    assert [s for s, _ in surge_events] == ["firing", "resolved"]
    assert abs(surge_events[0][1] - rises) <= 3 * step  # prediction error ±3 cm: ±30 min
    assert abs(surge_events[1][1] - falls) <= 3 * step
    yellow = events("tide-high-water-yellow")
    assert [s for s, _ in yellow] == ["firing", "resolved"]
    assert abs(yellow[0][1] - top) <= 2 * step
    for colour in ("blue", "orange", "red"):
        assert events(f"tide-high-water-{colour}") == []
    early = events("tide-early-warning")
    assert early and early[0][0] == "firing" and early[0][1] < yellow[0][1]
    hw = conn.execute("SELECT level_m, surge_m, warning, fit_version FROM tide_high_waters "
                      "WHERE station = 'xiamen-tide' AND ts = to_timestamp(%s)", (yellow[0][1],)
                      ).fetchone()
    assert hw[2] == "yellow" and hw[3] == 1
    assert hw[1] == pytest.approx(surge.at(yellow[0][1]), abs=0.05)
    # before the fit the stream had no constituents: no prediction, no surge
    assert count(conn, "SELECT count(*) FROM tide_observations WHERE station = 'xiamen-tide' "
                 "AND ts < %s AND predicted_m IS NOT NULL", fit_end) == 0


def test_every_tide_panel_query_runs_as_the_read_only_role(tides) -> None:
    settings, _ = tides
    board = next(d for d in all_dashboards(settings) if d.uid == "fjsense-tide")
    end = datetime.now(UTC) + timedelta(minutes=1)
    with psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True) as conn:
        for start, stop in ((SIM_END - timedelta(days=3), SIM_END),
                            (end - timedelta(days=1), end)):
            for panel in board.panels:
                sql = expand(panel.sql, start, stop, "10m",
                             {"station": ["xiamen-tide", "honolulu-tide"]})
                cur = conn.execute(sql)
                assert tuple(c.name for c in cur.description) == panel.columns, panel.title
                rows = cur.fetchall()
                if panel.title.startswith("Next high waters") and stop == end:
                    assert rows, "no predicted high waters ahead"
                elif not panel.title.startswith(("Next high waters", "Levels flagged")):
                    assert rows or stop == end, f"no rows for panel {panel.title!r}"


def test_a_1990s_record_gets_in_and_a_fit_reaches_the_history_it_was_fitted_on(tides) -> None:
    """A January 1998 hourly record (UHSLC fast-delivery CSV) is stored hour for hour (a tide
    gauge's earliest_ts is 1800); fitted afterwards, its stored levels get the astronomical tide
    and surge only from ``fjsense tides apply``, equal to ``tides predict``, and a second apply
    changes nothing."""
    settings, conn = tides
    out = fjsense(settings, "replay", str(CAN1998), "--as", "can1998-tide")
    assert "UHSLC fast-delivery hourly CSV (year,month,day,hour,mm), 380 rows with values" in \
        " ".join(out.stderr.split())
    stored(conn, "can1998-tide", 380)
    levels = conn.execute("SELECT ts, level_m FROM tide_observations WHERE station = "
                          "'can1998-tide' ORDER BY ts").fetchall()
    assert len(levels) == 380 and levels[0] == (datetime(1998, 1, 1, tzinfo=UTC), 1.2)
    assert levels[-1] == (datetime(1998, 1, 16, 19, tzinfo=UTC), 2.11)
    span = ("1998-01-01T00:00Z", "1998-01-16T19:00Z")
    fit = fjsense(settings, "tides", "fit", "can1998-tide", "--from", span[0], "--to", span[1])
    assert ("fjsense tides apply can1998-tide --from 1998-01-01T00:00:00Z --to "
            "1998-01-16T19:00:00Z") in " ".join(fit.stderr.split())
    query = ("SELECT count(*) FROM tide_observations WHERE station = 'can1998-tide' AND "
             "predicted_m IS NOT NULL")
    assert count(conn, query) == 0  # stored before the fit: no tide of it yet
    first = fjsense(settings, "tides", "apply", "can1998-tide", "--from", span[0],
                    "--to", span[1])
    assert first.stdout.startswith("can1998-tide: 380 of 380 stored observations")
    assert "constituents version 1" in first.stdout
    rows = conn.execute("SELECT ts, level_m, predicted_m, surge_m, fit_version FROM "
                        "tide_observations WHERE station = 'can1998-tide' ORDER BY ts").fetchall()
    out = fjsense(settings, "tides", "predict", "can1998-tide", "--from", span[0], "--to",
                  span[1], "--json")
    tide = [r["predicted_m"] for r in json.loads(out.stdout)]
    assert [p for _, _, p, _, _ in rows] == tide
    assert all(s == round(level - p, 4) and v == 1 for _, level, p, s, v in rows)
    again = fjsense(settings, "tides", "apply", "can1998-tide", "--from", span[0],
                    "--to", span[1])
    assert again.stdout.startswith("can1998-tide: 0 of 380 stored observations")
