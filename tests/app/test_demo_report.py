"""After a demo run, `fjsense report` (which starts the demo's stopped PostgreSQL itself) gives
the figures that the stored rows give when summed here in Python, apart from the report's SQL:
the README's `make demo && make report`, on a stack of its own."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.processes import settings_env
from dashboards.report import BEIJING, Period
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from fjsense.stack import LocalStack, isolated_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo() -> Iterator[tuple[Settings, dict[str, Any], Period]]:
    """A one-minute demo (an hour of every kind's scenario), then the week's report."""
    home = Path(tempfile.mkdtemp(prefix="fjsense-demo-"))
    home.chmod(0o755)  # PostgreSQL runs as `postgres` when we are root
    settings = isolated_settings(home)
    stack = LocalStack(settings)  # held: the PostgreSQL it starts below lives as long
    env = settings_env(settings)
    try:
        ran = subprocess.run([sys.executable, "-m", "app.cli", "demo", "--minutes", "1"],
                             env=env, capture_output=True, text=True, timeout=400, check=False)
        assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
        # its hour of data ended when it began, a minute or more ago: the week holding the
        # hour's middle holds at least half of it, whenever the test runs (a Monday 00:10 too)
        middle = datetime.now(BEIJING) - timedelta(minutes=31)
        period = Period.of("week", middle.date())
        out = home / "report"
        made = subprocess.run([sys.executable, "-m", "app.cli", "report", "--period", "week",
                               "--date", period.first.isoformat(), "--out", str(out)],
                              env=env, capture_output=True, text=True, timeout=180, check=False)
        assert made.returncode == 0, made.stderr
        assert "starting the embedded PostgreSQL for the report" in made.stderr
        assert stack.postgres.pid() is None  # stopped again
        stack.postgres.start()  # for the sums made here
        yield settings, json.loads((out / "report.json").read_text()), period
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)


def rows(settings: Settings, query: str, period: Period) -> list[tuple]:
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        return conn.execute(query, {"start": period.start, "end": period.end}).fetchall()


def test_pue_equals_the_windows_summed(demo):
    settings, report, period = demo
    windows = rows(settings, "SELECT site, facility_kwh, it_kwh FROM pue_windows WHERE pue IS "
                   "NOT NULL AND window_start >= %(start)s AND window_start < %(end)s", period)
    assert len(windows) > 20  # at least half of the demo's hour, its sites' 1-minute windows
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for site, facility, it in windows:
        sums[site][0] += facility
        sums[site][1] += it
    for site, (facility, it) in sums.items():
        assert report["pue"]["sites"][site]["pue"] == pytest.approx(facility / it, rel=1e-9)
    assert report["pue"]["province"] == pytest.approx(
        sum(f for f, _ in sums.values()) / sum(i for _, i in sums.values()), rel=1e-9)


def test_ocean_figures_equal_the_rows_counted(demo):
    settings, report, period = demo
    labels = ("I", "II", "III", "IV", "worse than IV")
    hours = rows(settings, "SELECT station, quality_class FROM buoy_quality_hourly WHERE hour "
                 ">= %(start)s AND hour < %(end)s", period)
    by_station: dict[str, Counter[str]] = defaultdict(Counter)
    for station, quality_class in hours:
        by_station[station][labels[quality_class - 1]] += 1
    for station, figures in report["buoys"]["stations"].items():
        assert figures["hours_by_class"] == dict(by_station.get(station, {}))
    levels = rows(settings, "SELECT station, surge_m FROM tide_observations WHERE qc IN (1, 3) "
                  "AND surge_m IS NOT NULL AND ts >= %(start)s AND ts < %(end)s", period)
    assert levels, "the demo's tide gauges stored levels with a surge"
    peaks = rows(settings, "SELECT station, ts, warning_level FROM tide_high_waters WHERE ts >= "
                 "%(start)s AND ts < %(end)s", period)
    colours = ("blue", "yellow", "orange", "red")
    for station, figures in report["tides"]["stations"].items():
        mine = [surge for s, surge in levels if s == station]
        assert figures["highest_surge_m"] == (pytest.approx(max(mine)) if mine else None)
        worst: dict[Any, int] = {}
        for s, ts, level in peaks:
            if s == station:
                day = ts.astimezone(BEIJING).date()
                worst[day] = max(worst.get(day, 0), level)
        assert figures["days_reached"] == {
            colour: sum(1 for level in worst.values() if level > n)
            for n, colour in enumerate(colours)}


def test_cells_and_pollution_equal_the_rows_summed(demo):
    settings, report, period = demo
    kpis = rows(settings, "SELECT device, period_s, available_s FROM cell_kpis WHERE "
                "available_s IS NOT NULL AND ts >= %(start)s AND ts < %(end)s", period)
    assert kpis
    seconds: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for device, period_s, available_s in kpis:
        seconds[device][0] += available_s
        seconds[device][1] += period_s
    for device, (available, total) in seconds.items():
        assert report["cells"]["cells"][device]["availability"] == pytest.approx(
            available / total, rel=1e-9)
    coverage = rows(settings, "SELECT area, samples, good_samples FROM coverage_windows WHERE "
                    "area_type = 'district' AND window_start >= %(start)s AND "
                    "window_start < %(end)s", period)
    samples: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for area, n, good in coverage:
        samples[area][0] += n
        samples[area][1] += good
    for area, (n, good) in samples.items():
        assert report["cells"]["districts"][area]["coverage_rate"] == pytest.approx(good / n)
    hourly = rows(settings, "SELECT mn, pollutant, valid FROM pollution_hourly WHERE hour >= "
                  "%(start)s AND hour < %(end)s", period)
    # an hour is stored once final (5 minutes past its end): a demo that began at :00-:05
    # has none yet, and then every point's capture is empty, as the rows say
    capture: dict[str, dict[str, float]] = defaultdict(dict)
    for mn, pollutant, ok in hourly:
        capture[mn][pollutant] = capture[mn].get(pollutant, 0.0) + ok / period.hours
    for mn, figures in report["pollution"]["points"].items():
        assert figures["capture"] == pytest.approx(capture.get(mn, {}))
    fired = rows(settings, "SELECT rule, count(*) FROM alert_events WHERE state = 'firing' AND "
                 "at >= %(start)s AND at < %(end)s GROUP BY 1", period)
    assert report["alerts"]["by_rule"] == dict(fired)
