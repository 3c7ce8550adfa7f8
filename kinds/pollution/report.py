"""The pollution sources' section of the province's report: per monitoring point, data capture
(its valid hours, HJ 75-2017's hour of at least 45 minutes of normal data, over the period's
hours, against ``pollution.capture_target``), exceedance hours per pollutant, the tamper signs
its rules raised, and the hours under a maintenance flag."""

from __future__ import annotations

from typing import Any

import psycopg

from dashboards.alerts_report import firings
from dashboards.charts import bar_chart
from dashboards.report import Period, Section
from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.pollution.kind import KIND, PollutionSettings

# the days of pollution_daily, the departments' compliance view, summed: the period is whole
# Beijing days
HOURS = (
    "SELECT mn, pollutant, sum(valid_hours)::bigint, sum(exceedance_hours)::bigint,\n"
    "  sum(maintenance_hours)::bigint\n"
    "FROM pollution_daily WHERE day >= %(first)s AND day <= %(last)s GROUP BY 1, 2")


def pollution_section(conn: psycopg.Connection, settings: Settings, catalog: Catalog,
                      period: Period) -> Section:
    """Capture, exceedances, tamper signs and maintenance per point over ``period``."""
    config: PollutionSettings = KIND.section(settings)
    days = {"first": period.first, "last": period.last}
    hours: dict[str, dict[str, tuple[int, int, int]]] = {}
    for mn, pollutant, valid, exceeded, maintenance in conn.execute(HOURS, days):
        hours.setdefault(mn, {})[pollutant] = (valid, exceeded, maintenance)
    signs = firings(conn, period, labels={"sign": "tamper"})
    points: dict[str, Any] = {}
    for site in catalog.sites_of(KIND.name):
        for device in site.devices:
            if device.kind != KIND.name:
                continue
            mine = hours.get(device.id, {})
            capture = {p: valid / period.hours for p, (valid, _, _) in sorted(mine.items())}
            lowest = min(capture.values(), default=0.0)
            points[device.id] = {
                "site": site.id, "name": site.name,
                "capture": capture, "capture_lowest": lowest,
                "capture_met": lowest >= config.capture_target,
                "exceedance_hours": {p: e for p, (_, e, _) in sorted(mine.items())},
                "maintenance_hours": {p: m for p, (_, _, m) in sorted(mine.items())},
                "tamper_signs": {rule: by_point[device.id]
                                 for rule, by_point in sorted(signs.items())
                                 if device.id in by_point}}
    short = [mn for mn, p in points.items() if not p["capture_met"]]
    exceeding = [mn for mn, p in points.items() if any(p["exceedance_hours"].values())]
    tampered = [mn for mn, p in points.items() if p["tamper_signs"]]
    met = None if not hours else not (short or exceeding or tampered)
    return Section(
        key="pollution", title_zh="污染源在线监测", title_en="Pollution sources (HJ 212)",
        verdict_zh=("本期没有污染源小时数据" if met is None else
                    f"{len(points)}个监测点中：{len(short)}个数据捕集率低于"
                    f"{config.capture_target:.0%}，{len(exceeding)}个有超标小时，"
                    f"{len(tampered)}个有疑似弄虚作假迹象"),
        verdict_en=("no pollution-source hour in the period" if met is None else
                    f"of {len(points)} points, {len(short)} captured less than "
                    f"{config.capture_target:.0%} valid hours, {len(exceeding)} exceeded a "
                    f"limit, {len(tampered)} showed tamper signs"),
        met=met,
        quality=f"{sum(1 for p in points.values() if not p['capture'])} of {len(points)} "
                "points sent no hour in the period",
        figures={"capture_target": config.capture_target, "points": points},
        chart=bar_chart([(mn, p["capture_lowest"]) for mn, p in points.items()],
                        target=config.capture_target, bad_below=True,
                        target_label=f"capture target {config.capture_target:.0%}"),
        rows=[{"point": mn, "site": p["name"], "lowest capture": f"{p['capture_lowest']:.1%}",
               "exceedance hours": sum(p["exceedance_hours"].values()),
               "maintenance hours": sum(p["maintenance_hours"].values()),
               "tamper signs": sum(p["tamper_signs"].values())}
              for mn, p in points.items()])
