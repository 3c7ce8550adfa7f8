"""The tide stations' part of the province's report: each station's highest storm surge
(observed − astronomical tide) and highest level, and the Beijing days on which each warning
colour was reached.

Warning colours are judged on the tidal high waters, as the warning-tide rules judge them. The
surge counts levels that passed QC or were only suspect: a real surge rises faster than the
rate-of-change test allows (the demo's Xiamen surge of 1.8 m was flagged suspect as it rose),
while a level that failed QC (a spike) is no surge. Which flag the highest had is said."""

from __future__ import annotations

from typing import Any

import psycopg

from dashboards.charts import bar_chart
from dashboards.report import Period, Section
from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.tide.kind import COLOURS, KIND

PEAKS = (
    "SELECT DISTINCT ON (station) station, surge_m, ts, qc FROM tide_observations\n"
    "WHERE qc IN (1, 3) AND surge_m IS NOT NULL AND ts >= %(start)s AND ts < %(end)s\n"
    "ORDER BY station, surge_m DESC, ts")
LEVELS = (  # per station: its highest level, the hours with a level, the flagged levels
    "SELECT station, max(level_m) FILTER (WHERE qc IN (1, 3)),\n"
    "  count(DISTINCT date_trunc('hour', ts)) FILTER (WHERE qc IN (1, 3)),\n"
    "  count(*) FILTER (WHERE qc = 3), count(*) FILTER (WHERE qc = 4)\n"
    "FROM tide_observations WHERE ts >= %(start)s AND ts < %(end)s GROUP BY 1")
DAYS = (  # per station and Beijing day: the highest warning level of its high waters
    "SELECT station, (ts AT TIME ZONE 'Asia/Shanghai')::date, max(warning_level)\n"
    "FROM tide_high_waters WHERE ts >= %(start)s AND ts < %(end)s GROUP BY 1, 2")


def tides_section(conn: psycopg.Connection, settings: Settings, catalog: Catalog,
                  period: Period) -> Section:
    """Surges and warning days over ``period``."""
    span = {"start": period.start, "end": period.end}
    peaks = {station: (float(surge), ts, qc) for station, surge, ts, qc
             in conn.execute(PEAKS, span)}
    levels = {station: (highest, hours, suspect, failed) for station, highest, hours, suspect,
              failed in conn.execute(LEVELS, span)}
    days: dict[str, list[int]] = {}
    for station, _, level in conn.execute(DAYS, span):
        days.setdefault(station, []).append(level)
    stations: dict[str, Any] = {}
    for site in catalog.sites_of(KIND.name):
        mine = days.get(site.id, [])
        surge, at, qc = peaks.get(site.id, (None, None, None))
        highest, hours, suspect, failed = levels.get(site.id, (None, 0, 0, 0))
        stations[site.id] = {
            "name": site.name, "highest_surge_m": surge,
            "highest_surge_at": None if at is None else at.isoformat(),
            "highest_surge_qc": qc,
            "highest_level_m": None if highest is None else float(highest),
            "days_reached": {colour: sum(1 for level in mine if level >= n)
                             for n, colour in enumerate(COLOURS) if n},
            "hours_without_valid_level": period.hours - hours,
            "levels_suspect": suspect, "levels_failed": failed}
    reached = {colour: sum(s["days_reached"][colour] for s in stations.values())
               for colour in COLOURS[1:]}
    worst = max((n for n, colour in enumerate(COLOURS) if n and reached[colour]), default=0)
    observed = any(hours for _, hours, _, _ in levels.values())
    met = None if not observed else worst == 0
    named = {"none": "无", "blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
    return Section(
        key="tides", title_zh="海洋：潮位与风暴潮", title_en="Ocean: tides and storm surge",
        verdict_zh=("本期没有有效潮位数据" if met is None else "本期未达到警戒潮位" if met else
                    f"本期最高达到{named[COLOURS[worst]]}警戒潮位"),
        verdict_en=("no valid water level in the period" if met is None else
                    "no warning tide level was reached" if met else
                    f"the highest warning colour reached was {COLOURS[worst]}"),
        met=met,
        quality=f"{sum(s['hours_without_valid_level'] for s in stations.values())} of "
                f"{len(stations) * period.hours} station-hours without a level that passed QC "
                f"or was suspect; {sum(s['levels_suspect'] for s in stations.values())} levels "
                f"suspect, {sum(s['levels_failed'] for s in stations.values())} failed (not "
                "counted)",
        figures={"stations": stations, "station_days_reached": reached},
        chart=bar_chart([(s["name"][:28], s["highest_surge_m"]) for s in stations.values()],
                        unit=" m", decimals=2),
        rows=[{"tide station": s["name"],
               "highest surge (m)": "—" if s["highest_surge_m"] is None
               else f"{s['highest_surge_m']:.2f}"
               + (" (QC suspect)" if s["highest_surge_qc"] == 3 else ""),
               **{f"days {colour}": n for colour, n in s["days_reached"].items()}}
              for s in stations.values()])
