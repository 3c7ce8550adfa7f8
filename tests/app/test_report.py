"""`fjsense report`: Beijing calendar periods, and the datacenters' and alerts' figures equal
to sums made apart from the rows, on PostgreSQL, through the command."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.processes import settings_env
from dashboards.report import Period
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from sinks.migrate import bootstrap

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("kind", "day", "first", "last", "hours"), [
    ("day", date(2026, 12, 6), date(2026, 12, 6), date(2026, 12, 6), 24),
    ("week", date(2026, 12, 6), date(2026, 11, 30), date(2026, 12, 6), 168),  # a Sunday
    ("week", date(2026, 11, 30), date(2026, 11, 30), date(2026, 12, 6), 168),  # its Monday
    ("month", date(2028, 2, 29), date(2028, 2, 1), date(2028, 2, 29), 29 * 24),  # leap
    ("month", date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31), 31 * 24),
])
def test_periods_are_beijing_calendar_days_weeks_and_months(kind, day, first, last, hours):
    period = Period.of(kind, day)
    assert (period.first, period.last, period.hours) == (first, last, hours)
    # a Beijing day begins at 16:00 UTC the day before
    assert period.start == datetime.combine(first - timedelta(days=1), datetime.min.time(),
                                            UTC) + timedelta(hours=16)
    assert period.end - period.start == timedelta(hours=hours)


DAY = date(2026, 12, 5)
BEGIN = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)  # Beijing midnight of DAY


def windows() -> list[tuple]:
    """One-minute windows of two datacenters on DAY, a few without a valid PUE, and one each
    just outside the day (15:59 UTC before, 16:00 UTC after) that must not count."""
    rows = []
    for site, facility, it in (("changle-dc1", 21.0, 16.0), ("anxi-dc1", 13.0, 10.0)):
        for minute in [-1, *range(0, 180), 24 * 60]:
            start = BEGIN + timedelta(minutes=minute)
            f, i = facility + minute % 7 * 0.1, it + minute % 5 * 0.1
            invalid = site == "anxi-dc1" and 60 <= minute < 75  # a meter silent for 15 min
            rows.append((site, start, start + timedelta(minutes=1), None if invalid else f,
                         i, None if invalid else f / i, "facility meter missing" if invalid
                         else None))
    return rows


def test_the_report_json_equals_sums_made_apart(settings: Settings, tmp_path: Path):
    bootstrap(settings)
    rows = windows()
    with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO pue_windows (site, window_start, window_end, facility_kwh, it_kwh, "
                "pue, reason) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
            cur.execute(
                "INSERT INTO alert_events (rule, group_key, group_by, state, at, value, "
                "threshold, severity, labels, summary, notify) VALUES ('pue-above-target', "
                "'changle-dc1', 'site', 'firing', %s, 1.41, 1.35, 'warning', '{}', 's', true)",
                [BEGIN + timedelta(hours=2)])
    out = tmp_path / "a report dir"
    done = subprocess.run([sys.executable, "-m", "app.cli", "report", "--period", "day",
                           "--date", DAY.isoformat(), "--out", str(out)],
                          env=settings_env(settings), capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # what it wrote is said on stderr
    report = json.loads((out / "report.json").read_text())
    assert report["period"] == {"kind": "day", "first": "2026-12-05", "last": "2026-12-05",
                                "timezone": "Asia/Shanghai"}
    inside = [r for r in rows if BEGIN <= r[1] < BEGIN + timedelta(days=1) and r[5] is not None]
    for site in ("changle-dc1", "anxi-dc1"):
        mine = [r for r in inside if r[0] == site]
        figures = report["pue"]["sites"][site]
        assert figures["pue"] == pytest.approx(sum(r[3] for r in mine) / sum(r[4] for r in mine),
                                               rel=1e-12)
        assert figures["valid_minutes"] == len(mine)
        assert figures["hours_without_valid_pue"] == 24 - 3
    assert report["pue"]["sites"]["anxi-dc1"]["why_not_valid"] == {"facility meter missing": 15}
    assert report["pue"]["province"] == pytest.approx(
        sum(r[3] for r in inside) / sum(r[4] for r in inside), rel=1e-12)
    assert report["pue"]["target"] == 1.35
    assert list(report["pue"]["daily"]) == ["2026-12-05"]  # the day's trend: one point
    assert report["pue"]["daily"]["2026-12-05"] == pytest.approx(report["pue"]["province"])
    # a datacenter of the catalog with no windows: no PUE, every hour without
    others = {s.id for s in load_catalog().sites_of("power")} - {"changle-dc1", "anxi-dc1"}
    for site in others:
        assert report["pue"]["sites"][site]["pue"] is None
        assert report["pue"]["sites"][site]["hours_without_valid_pue"] == 24
    assert report["alerts"]["by_rule"] == {"pue-above-target": 1}
    assert report["alerts"]["by_severity"] == {"warning": 1}
    assert report["alerts"]["by_kind"] == {"power": 1}
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 7 and "数据中心能效（PUE）" in page and "Datacenters: PUE" in page
    assert f"全省PUE为{report['pue']['province']:.3f}" in page
