"""`fjsense report`'s 5G, ocean and pollution sections over a Beijing week: rows are written
to their tables (with rows just outside the week, refused KPIs, QC-flagged levels and hours
under maintenance), the command runs once, and every figure of report.json equals a sum made
here from the rows, apart from the report's SQL. Then the page is looked at in Chromium."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from app.processes import settings_env
from fjsense.catalog import Site, load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from sinks.migrate import bootstrap

pytestmark = pytest.mark.integration

DAY = date(2026, 12, 5)  # a Saturday: its week is 2026-11-30 … 2026-12-06
WEEK = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # Beijing midnight of Monday 30 November
END = WEEK + timedelta(days=7)
HOURS = 7 * 24
BEFORE, AFTER = WEEK - timedelta(minutes=30), END  # just outside: must not count
TAMPER = {"team": "environment", "sign": "tamper"}


@dataclass
class Rows:
    """What was written, per table, for the sums made apart."""

    quality: list[tuple]
    alerts: list[tuple]
    tides: list[tuple]
    high_waters: list[tuple]
    kpis: list[tuple]
    coverage: list[tuple]
    hourly: list[tuple]


def quality_rows() -> list[tuple]:
    """(station, hour, class, qc): a class III buoy a week at class II, then III, then IV; a
    class II buoy ten hours at class I; one hour before the week at class V."""
    rows = [("minjiang-eco1", WEEK + timedelta(hours=24 + h),
             2 if h < 30 else 3 if h < 40 else 4, 3 if h in (5, 6) else 1) for h in range(48)]
    rows += [("luoyuan-eco1", WEEK + timedelta(hours=h), 1, 1) for h in range(10)]
    rows.append(("minjiang-eco1", WEEK - timedelta(hours=1), 5, 1))
    return rows


def alert_rows() -> list[tuple]:
    """(rule, group_key, state, at, labels): episodes, tamper signs, and what must not count."""
    at = WEEK + timedelta(hours=30)
    return [
        ("buoy-hypoxia", "minjiang-eco1", "firing", at, {"team": "ocean"}),
        ("buoy-hypoxia", "minjiang-eco1", "resolved", at + timedelta(hours=1), {"team": "ocean"}),
        ("buoy-hypoxia-severe", "minjiang-eco1", "firing", at + timedelta(hours=2), {}),
        ("buoy-bloom-risk", "luoyuan-eco1", "firing", at + timedelta(hours=10), {}),
        ("buoy-hypoxia", "minjiang-eco1", "firing", WEEK - timedelta(hours=2), {}),  # before
        ("pollution-tamper-stuck", "350111YLWS000000000001", "firing", at, TAMPER),
        ("pollution-tamper-zero-flow", "350111YLWS000000000001", "firing", at, TAMPER),
        ("my-own-tamper-check", "350111YLWS000000000001", "firing", at, TAMPER),  # operator's
        ("pollution-silent", "350111YLWS000000000001", "firing", at, {"team": "environment"}),
        ("pollution-tamper-stuck", "350111YLWS000000000001", "firing", AFTER, TAMPER),
    ]


def tide_rows() -> list[tuple]:
    """(station, ts, surge, qc) every 30 minutes over two Beijing days, the highest (0.9 m)
    only suspect (a surge rises faster than the rate test allows); a failed spike of 3 m and a
    surge of 5 m before the week must not count."""
    first = WEEK + timedelta(days=3)
    rows = [("minjiang-tide", first + timedelta(minutes=30 * n), round(0.05 + (n % 37) * 0.01, 2),
             1) for n in range(96)]
    rows.append(("minjiang-tide", first + timedelta(minutes=615), 0.9, 3))
    rows.append(("minjiang-tide", first + timedelta(minutes=15), 3.0, 4))
    rows.append(("minjiang-tide", BEFORE, 5.0, 1))
    return rows


def high_water_rows() -> list[tuple]:
    """(station, ts, warning level): yellow reached on the first day, blue on the second, red
    before the week."""
    first = WEEK + timedelta(days=3)
    return [("minjiang-tide", first + timedelta(hours=h), level) for h, level
            in ((5, 0), (17, 2), (30, 1), (42, 0))] + [("minjiang-tide", BEFORE, 4)]


def kpi_rows(other: Site) -> list[tuple]:
    """(device, site, district, ts, period_s, available_s, outage): three cells, one with a
    refused KPI (null) and an outage period; one period after the week."""
    rows = []
    for device, site, district in (("fz-gulou-001-c1", "fz-gulou-001", "gulou"),
                                   ("fz-gulou-001-c2", "fz-gulou-001", "gulou"),
                                   (other.devices[0].id, other.id, other.district)):
        for n in range(8):
            available = 900.0 - 10 * n
            if device.endswith("001-c2") and n == 3:
                available = 100.0  # an outage
            if device.endswith("001-c2") and n == 5:
                available = None  # refused at ingest
            rows.append((device, site, district, WEEK + timedelta(hours=10, minutes=15 * n),
                         900.0, available, available is not None and available / 900 < 0.5))
        rows.append((device, site, district, AFTER, 900.0, 0.0, True))
    return rows


def coverage_rows(other_district: str) -> list[tuple]:
    """(area_type, area, start, samples, good, rsrp_good)."""
    rows = [("district", "gulou", WEEK + timedelta(minutes=15 * n), 1000, 960 - n, 990)
            for n in range(4)]
    rows += [("district", other_district, WEEK + timedelta(hours=1, minutes=15 * n), 500, 400,
              450) for n in range(2)]
    rows.append(("h3", "8841a9b6c9fffff", WEEK, 100, 10, 10))  # not a district
    rows.append(("district", "gulou", BEFORE, 1000, 0, 0))
    return rows


def hourly_rows() -> list[tuple]:
    """(mn, pollutant, hour, valid, exceeded, qc): COD valid 158 of 168 hours, three of them
    above the limit; ammonia valid 118 (four hours under maintenance)."""
    rows = []
    for h in range(HOURS):
        hour = WEEK + timedelta(hours=h)
        rows.append(("350111YLWS000000000001", "w01018", hour, h >= 10, 5 <= h - 10 < 8, 1))
        maintenance = 100 <= h < 104
        rows.append(("350111YLWS000000000001", "w21003", hour, h >= 50, False,
                     3 if maintenance else 1))
    rows.append(("350111YLWS000000000001", "w01018", AFTER, True, True, 1))
    return rows


def write(conn: psycopg.Connection, rows: Rows) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO buoy_quality_hourly (station, hour, lat, lon, quality_class, "
            "class_label, limiting, target_class, class_excess, samples, qc, do_mg_l, ph, "
            "din_mg_l, po4_mg_l, cod_mg_l) VALUES (%s, %s, 26.0, 119.6, %s, 'x', 'din_mg_l', "
            "2, 0, 6, %s, 6.0, 8.0, 0.2, 0.02, 2.0)", rows.quality)
        cur.executemany(
            "INSERT INTO alert_events (rule, group_key, group_by, state, at, value, threshold, "
            "severity, labels, summary, notify) VALUES (%s, %s, 'site', %s, %s, 1, 1, "
            "'warning', %s, 's', true)",
            [(r, g, s, at, json.dumps(labels)) for r, g, s, at, labels in rows.alerts])
        cur.executemany(
            "INSERT INTO tide_observations (station, device, seq, ts, level_m, predicted_m, "
            "surge_m, qc, tests, fit_version, warning_level, warning, rate_m_per_h, "
            "early_warning_level) VALUES (%s, 'minjiang-tg1', 0, %s, 2.5 + %s, 2.5, %s, %s, "
            "'', 1, 0, 'none', 0.1, 0)", [(s, ts, surge, surge, qc) for s, ts, surge, qc
                                          in rows.tides])
        cur.executemany(
            "INSERT INTO tide_high_waters (station, device, ts, level_m, predicted_m, surge_m, "
            "warning_level, warning, fit_version) VALUES (%s, 'minjiang-tg1', %s, 5.0, 4.8, "
            "0.2, %s, 'x', 1)", rows.high_waters)
        cur.executemany(
            "INSERT INTO cell_kpis (device, site, district, seq, ts, period_s, available_s, "
            "availability, outage, prb_util, rrc_users, dl_mbps, ul_mbps) VALUES "
            "(%s, %s, %s, 0, %s, %s, %s, NULL, %s, 0.3, 20, 300.0, 40.0)", rows.kpis)
        cur.executemany(
            "INSERT INTO coverage_windows (area_type, area, window_start, window_end, samples, "
            "good_samples, rsrp_good_samples, coverage_rate, rsrp_rate, sites, lat, lon, "
            "rsrp_ge_85, rsrp_95_85, rsrp_105_95, rsrp_115_105, rsrp_lt_115) VALUES "
            "(%s, %s, %s, %s + interval '15 minutes', %s, %s, %s, 0, 0, 1, 26.0, 119.3, "
            "0, 0, 0, 0, 0)", [(t, a, s, s, n, g, r) for t, a, s, n, g, r in rows.coverage])
        cur.executemany(
            "INSERT INTO pollution_hourly (site, mn, hour, pollutant, avg, samples, expected, "
            "flagged, valid, \"limit\", exceeded, qc, ts) VALUES ('fz-yangli-wwtp', %s, %s, %s, "
            "10.0, 60, 60, 0, %s, 50.0, %s, %s, %s + interval '1 hour')",
            [(mn, hour, p, valid, exceeded, qc, hour) for mn, p, hour, valid, exceeded, qc
             in rows.hourly])


def operator_catalog(path: Path) -> Path:
    """Four new 5G sites with their commissioning dates: two this year up to the week's end,
    one after it, one the year before."""
    sites = [{"id": f"fz-gulou-new{n}", "name": f"New Gulou site {n}", "kind": "cell",
              "region": "fuzhou", "district": "gulou", "lat": 26.08, "lon": 119.30,
              "commissioned": day, "devices": [
                  {"id": f"fz-gulou-new{n}-c1", "azimuth_deg": 0, "band": "n78"}]}
             for n, day in enumerate((date(2026, 2, 1), date(2026, 12, 6), date(2026, 12, 7),
                                      date(2025, 6, 1)))]
    path.write_text(yaml.safe_dump({"sites": sites}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def written(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[dict[str, Any], Rows, Path]]:
    out = tmp_path_factory.mktemp("report") / "a report dir"
    catalog = operator_catalog(out.parent / "operator catalog.yaml")
    settings = Settings(**{**module_settings.model_dump(), "catalog": {"file": catalog}})
    bootstrap(settings)
    other = next(s for s in load_catalog().sites_of("cell") if s.district != "gulou")
    rows = Rows(quality_rows(), alert_rows(), tide_rows(), high_water_rows(), kpi_rows(other),
                coverage_rows(other.district or ""), hourly_rows())
    with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
        write(conn, rows)
    done = subprocess.run([sys.executable, "-m", "app.cli", "report", "--period", "week",
                           "--date", DAY.isoformat(), "--out", str(out)],
                          env=settings_env(settings), capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    yield json.loads((out / "report.json").read_text()), rows, out


def inside(at: datetime) -> bool:
    return WEEK <= at < END


def test_buoys_hours_per_class_and_episodes(written):
    report, rows, _ = written
    mine = [r for r in rows.quality if r[0] == "minjiang-eco1" and inside(r[1])]
    figures = report["buoys"]["stations"]["minjiang-eco1"]
    labels = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "worse than IV"}
    assert figures["hours_by_class"] == {labels[c]: sum(1 for r in mine if r[2] == c)
                                         for c in sorted({r[2] for r in mine})}
    assert figures["target_class"] == "III"
    assert figures["hours_worse_than_target"] == sum(1 for r in mine if r[2] > 3) == 8
    assert figures["hours_doubtful"] == 2 and figures["met"] is False
    assert figures["share_meeting_target"] == pytest.approx(40 / 48)
    assert figures["episodes"] == {"hypoxia": 2, "bloom": 0}  # firings in the week only
    luoyuan = report["buoys"]["stations"]["luoyuan-eco1"]
    assert (luoyuan["hours_by_class"], luoyuan["met"], luoyuan["episodes"]) == (
        {"I": 10}, True, {"hypoxia": 0, "bloom": 1})
    silent = report["buoys"]["stations"]["fuzhou-nb1"]
    assert (silent["hours_classed"], silent["met"]) == (0, None)
    assert report["buoys"]["episodes"] == {"hypoxia": 2, "bloom": 1}
    assert report["buoys"]["met"] is False
    buoys = len(load_catalog().sites_of("buoy"))
    assert report["buoys"]["quality"].startswith(f"{buoys * HOURS - 58} of {buoys * HOURS} ")


def test_tides_highest_surge_and_days_per_colour(written):
    report, rows, _ = written
    counted = [r for r in rows.tides if r[3] in (1, 3) and inside(r[1])]
    figures = report["tides"]["stations"]["minjiang-tide"]
    peak = max(counted, key=lambda r: (r[2], -r[1].timestamp()))
    assert (figures["highest_surge_m"], figures["highest_surge_qc"]) == (peak[2], 3) == (0.9, 3)
    assert datetime.fromisoformat(figures["highest_surge_at"]) == peak[1]
    assert figures["highest_level_m"] == pytest.approx(2.5 + 0.9)
    assert figures["days_reached"] == {"blue": 2, "yellow": 1, "orange": 0, "red": 0}
    hours = {r[1].replace(minute=0) for r in counted}
    assert figures["hours_without_valid_level"] == HOURS - len(hours) == HOURS - 48
    assert (figures["levels_suspect"], figures["levels_failed"]) == (1, 1)
    assert report["tides"]["stations"]["pingtan-tide"]["highest_surge_m"] is None
    assert report["tides"]["station_days_reached"]["yellow"] == 1
    assert report["tides"]["met"] is False
    assert report["tides"]["verdict"] == "the highest warning colour reached was yellow"


def test_cells_availability_coverage_worst_cells_and_new_sites(written):
    report, rows, _ = written
    cells = report["cells"]
    kpis = [r for r in rows.kpis if inside(r[3])]
    for device in {r[0] for r in kpis}:
        known = [r for r in kpis if r[0] == device and r[5] is not None]
        expected = sum(r[5] for r in known) / sum(r[4] for r in known)
        assert cells["cells"][device]["availability"] == pytest.approx(expected, rel=1e-12)
        assert cells["cells"][device]["outage_periods"] == sum(1 for r in kpis
                                                                if r[0] == device and r[6])
        assert cells["cells"][device]["periods"] == sum(1 for r in kpis if r[0] == device) == 8
        assert cells["cells"][device]["met"] is False  # all below 99.9 %
    gulou = [r for r in kpis if r[2] == "gulou" and r[5] is not None]
    assert cells["districts"]["gulou"]["availability"] == pytest.approx(
        sum(r[5] for r in gulou) / sum(r[4] for r in gulou), rel=1e-12)
    windows = [r for r in rows.coverage if r[0] == "district" and inside(r[2])]
    for district in {r[1] for r in windows}:
        mine = [r for r in windows if r[1] == district]
        assert cells["districts"][district]["coverage_rate"] == pytest.approx(
            sum(r[4] for r in mine) / sum(r[3] for r in mine), rel=1e-12)
        assert cells["districts"][district]["samples"] == sum(r[3] for r in mine)
    assert cells["districts"]["gulou"]["coverage_met"] is True  # 3834 / 4000 ≥ 95 %
    assert "8841a9b6c9fffff" not in cells["districts"]
    assert cells["worst_cells"][0] == "fz-gulou-001-c2"
    assert cells["cells"]["fz-gulou-002-c1"] == {
        "site": "fz-gulou-002", "district": "gulou", "periods": 0,
        "periods_expected": HOURS * 4, "availability": None, "met": None, "outage_periods": 0}
    assert cells["commissioned"] == {
        "year": 2026, "sites": 2, "target_per_year": 10000,
        "target_to_date": round(10000 * 340 / 365, 1), "met": False, "sites_with_a_date": 4}
    assert cells["coverage_target"] == 0.95 and cells["met"] is False


def test_pollution_capture_exceedances_tamper_and_maintenance(written):
    report, rows, _ = written
    point = report["pollution"]["points"]["350111YLWS000000000001"]
    mine = [r for r in rows.hourly if inside(r[2])]
    for pollutant in ("w01018", "w21003"):
        hours = [r for r in mine if r[1] == pollutant]
        assert point["capture"][pollutant] == pytest.approx(
            sum(1 for r in hours if r[3]) / HOURS)
        assert point["exceedance_hours"][pollutant] == sum(1 for r in hours if r[4])
        assert point["maintenance_hours"][pollutant] == sum(1 for r in hours if r[5] != 1)
    assert point["exceedance_hours"] == {"w01018": 3, "w21003": 0}
    assert point["maintenance_hours"] == {"w01018": 0, "w21003": 4}
    assert point["capture_lowest"] == pytest.approx(118 / 168) and point["capture_met"] is False
    assert point["tamper_signs"] == {"my-own-tamper-check": 1, "pollution-tamper-stuck": 1,
                                     "pollution-tamper-zero-flow": 1}
    other = report["pollution"]["points"]["350104LBWS000000000001"]
    assert (other["capture"], other["capture_met"], other["tamper_signs"]) == ({}, False, {})
    assert report["pollution"]["capture_target"] == 0.75
    assert report["pollution"]["met"] is False



def test_alerts_by_kind_of_their_rules(written):
    report, _, _ = written
    assert report["alerts"]["by_kind"] == {"buoy": 3, "pollution": 3, "unknown": 1}
    assert report["alerts"]["firing"] == 7


def test_the_page_is_drawn_in_chromium_and_printed_whole(written, tmp_path: Path):
    """Every chart drew (an SVG with a size and marks), no image is broken, nothing was
    logged as an error; the screenshot is not blank; the PDF opens and holds every section,
    its Chinese set in a Chinese font."""
    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    report, _, out = written
    chromium = shutil.which("chromium")
    assert chromium, "`make setup` installs Debian's chromium"
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "report.html").resolve().as_uri())
        charts = page.evaluate(
            "[...document.querySelectorAll('figure svg')].map(s => {"
            " const r = s.getBoundingClientRect();"
            " return [s.closest('section').id, r.width, r.height,"
            "         s.querySelectorAll('rect, text').length]; })")
        broken = page.evaluate("[...document.images].filter(i => !i.complete ||"
                               " i.naturalWidth === 0).length")
        shot = page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    sections = ["pue", "pue", "buoys", "tides", "cells", "pollution", "alerts"]  # the kinds'
    # order; the datacenters' second chart is the daily trend
    assert [c[0] for c in charts] == sections
    assert all(width > 100 and height > 20 and marks > 0 for _, width, height, marks in charts)
    assert broken == 0 and errors == []
    assert len(shot) > 50_000  # a blank page of that size compresses to a few kB
    pdf = PdfReader(out / "report.pdf")
    text = "".join(page.extract_text() for page in pdf.pages)
    for title in ("Datacenters: PUE", "5G: availability, coverage, new sites",
                  "Ocean: water quality (GB 3097)", "Ocean: tides and storm surge",
                  "Pollution sources (HJ 212)", "Alerts", "数据中心能效"):
        assert title in text
    fonts = {str(font.get("/BaseFont")) for pg in pdf.pages
             for font in (pg["/Resources"].get("/Font") or {}).values()
             for font in [font.get_object()]}
    assert any("WenQuanYi" in f or "CJK" in f for f in fonts), fonts
    assert report["period"]["first"] == "2026-11-30"
