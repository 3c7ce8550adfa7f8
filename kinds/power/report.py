"""The datacenters' section of the province's report: energy-weighted PUE per datacenter and
for the province against the target (ISO/IEC 30134-2: Σ facility kWh / Σ IT kWh of the valid
windows, never a mean of ratios), the daily trend, and the hours with no valid PUE and why."""

from __future__ import annotations

from typing import Any

import psycopg

from dashboards.charts import bar_chart
from dashboards.report import Period, Section
from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.power.kind import KIND, Datacenter, PueSettings

SITES = (
    "SELECT site, sum(facility_kwh) AS facility, sum(it_kwh) AS it,\n"
    "  sum(extract(epoch FROM window_end - window_start)) / 60 AS valid_minutes\n"
    "FROM pue_windows WHERE pue IS NOT NULL AND window_start >= %(start)s\n"
    "  AND window_start < %(end)s GROUP BY site")
HOURS = (  # per site, the hours of the period with at least one valid window
    "SELECT site, count(DISTINCT date_trunc('hour', window_start)) FROM pue_windows\n"
    "WHERE pue IS NOT NULL AND window_start >= %(start)s AND window_start < %(end)s\n"
    "GROUP BY site")
REASONS = (
    "SELECT site, reason, count(*) FROM pue_windows WHERE pue IS NULL\n"
    "  AND window_start >= %(start)s AND window_start < %(end)s GROUP BY site, reason\n"
    "ORDER BY site, 3 DESC")
DAILY = (
    "SELECT (window_start AT TIME ZONE 'Asia/Shanghai')::date AS day,\n"
    "  sum(facility_kwh) / nullif(sum(it_kwh), 0) AS pue\n"
    "FROM pue_windows WHERE pue IS NOT NULL AND window_start >= %(start)s\n"
    "  AND window_start < %(end)s GROUP BY 1 ORDER BY 1")


def pue_section(conn: psycopg.Connection, settings: Settings, catalog: Catalog,
                period: Period) -> Section:
    """PUE per datacenter and for the province over ``period``."""
    pue: PueSettings = KIND.section(settings)
    span = {"start": period.start, "end": period.end}
    sums = {site: (facility, it, minutes) for site, facility, it, minutes
            in conn.execute(SITES, span)}
    hours: dict[str, int] = dict(conn.execute(HOURS, span).fetchall())
    reasons: dict[str, dict[str, int]] = {}
    for site, reason, count in conn.execute(REASONS, span):
        reasons.setdefault(site, {})[reason or "unknown"] = count
    sites: dict[str, Any] = {}
    for site in catalog.sites_of(KIND.name):
        spec = site.spec
        assert isinstance(spec, Datacenter)
        target = spec.pue_target or pue.target
        facility, it, minutes = sums.get(site.id, (None, None, 0))
        value = facility / it if facility is not None and it else None
        sites[site.id] = {
            "name": site.name, "pue": value, "target": target,
            "met": None if value is None else value < target,
            "valid_minutes": round(float(minutes or 0), 3),
            "hours_without_valid_pue": period.hours - hours.get(site.id, 0),
            "why_not_valid": reasons.get(site.id, {})}
    facility = sum(float(s[0]) for s in sums.values())
    it = sum(float(s[1]) for s in sums.values())
    province = facility / it if it else None
    daily = {day.isoformat(): value for day, value in conn.execute(DAILY, span)}
    without = sum(s["hours_without_valid_pue"] for s in sites.values())
    met = None if province is None else province < pue.target
    verdict = ("no valid PUE in the period" if province is None else
               f"province PUE {province:.3f} is {'below' if met else 'not below'} the target "
               f"{pue.target}")
    verdict_zh = ("本期没有有效的PUE数据" if province is None else
                  f"全省PUE为{province:.3f}，{'低于' if met else '未低于'}目标{pue.target}")
    chart = bar_chart([(s["name"][:28], s["pue"]) for s in sites.values()]
                      + [("province (全省)", province)], target=pue.target,
                      target_label=f"target {pue.target}", low=1.0)
    trend = bar_chart([(f"{day:%m-%d} 全省 province", daily.get(day.isoformat()))
                       for day in period.days], target=pue.target,
                      target_label=f"daily trend · target {pue.target}", low=1.0)
    return Section(
        key="pue", title_zh="数据中心能效（PUE）", title_en="Datacenters: PUE",
        verdict_zh=verdict_zh, verdict_en=verdict, met=met,
        quality=f"{without} of {len(sites) * period.hours} datacenter-hours without a valid "
                "PUE",
        figures={"target": pue.target, "province": province, "sites": sites, "daily": daily},
        chart=chart + trend,
        rows=[{"datacenter": s["name"], "PUE": "—" if s["pue"] is None else f"{s['pue']:.3f}",
               "target": s["target"], "valid minutes": s["valid_minutes"],
               "hours without valid PUE": s["hours_without_valid_pue"],
               "why": ", ".join(f"{k} ({v})" for k, v in s["why_not_valid"].items())}
              for s in sites.values()])
