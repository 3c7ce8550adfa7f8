"""The 5G section of the province's report: availability per cell and district against the
operators' target, coverage per district (the share of measurement-report samples with RSRP
and SS-SINR at or above the thresholds) against its target, the worst cells, and the sites
commissioned in the year against the province's 10,000 a year."""

from __future__ import annotations

from datetime import date
from typing import Any

import psycopg

from dashboards.charts import bar_chart
from dashboards.report import Period, Section
from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.cells.cell import KIND, CellSettings, CellSite
from kinds.cells.mr import KIND as MR
from kinds.cells.mr import MrSettings

WORST = 5  # cells listed by lowest availability

# the days of cell_daily, the operators' daily view, summed: the period is whole Beijing days,
# and availability stays over the periods whose in-service seconds are known (a refused KPI
# is not counted as down)
CELLS = (
    "SELECT device, site, district, sum(reports)::bigint,\n"
    "  sum(available_s) / nullif(sum(known_period_s), 0), sum(outage_periods)::bigint\n"
    "FROM cell_daily WHERE day >= %(first)s AND day <= %(last)s GROUP BY 1, 2, 3")
DISTRICTS = (
    "SELECT district, sum(available_s) / nullif(sum(known_period_s), 0)\n"
    "FROM cell_daily WHERE day >= %(first)s AND day <= %(last)s GROUP BY 1")
COVERAGE = (
    "SELECT area, sum(samples)::bigint, sum(good_samples)::bigint,\n"
    "  sum(rsrp_good_samples)::bigint\n"
    "FROM coverage_windows WHERE area_type = 'district'\n"
    "  AND window_start >= %(start)s AND window_start < %(end)s GROUP BY 1")


def commissioned(catalog: Catalog, period: Period, per_year: int) -> dict[str, Any] | None:
    """Cell sites commissioned from 1 January to the period's last day, against the year's
    target pro rata; None when no site of the catalog carries a date."""
    dates = [site.spec.commissioned for site in catalog.sites_of(KIND.name)
             if isinstance(site.spec, CellSite) and site.spec.commissioned is not None]
    if not dates:
        return None
    year = period.last.year
    days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
    elapsed = (period.last - date(year, 1, 1)).days + 1
    count = sum(1 for d in dates if date(year, 1, 1) <= d <= period.last)
    due = per_year * elapsed / days
    return {"year": year, "sites": count, "target_per_year": per_year,
            "target_to_date": round(due, 1), "met": count >= due,
            "sites_with_a_date": len(dates)}


def cells_section(conn: psycopg.Connection, settings: Settings, catalog: Catalog,
                  period: Period) -> Section:
    """Availability, coverage and new sites over ``period``."""
    cell: CellSettings = KIND.section(settings)
    mr: MrSettings = MR.section(settings)
    span = {"start": period.start, "end": period.end}
    days = {"first": period.first, "last": period.last}
    expected = round(period.hours * 3600 / cell.report_interval_seconds)
    known = {d.id: (site.id, site.district) for site in catalog.sites_of(KIND.name)
             for d in site.devices if d.kind == KIND.name}
    rows = {device: (site, district, periods, availability, outages)
            for device, site, district, periods, availability, outages
            in conn.execute(CELLS, days)}
    cells: dict[str, Any] = {}
    for device in sorted(set(known) | set(rows)):
        site, district, periods, availability, outages = rows.get(
            device, (*known[device], 0, None, 0))
        cells[device] = {
            "site": site, "district": district, "periods": periods,
            "periods_expected": expected,
            "availability": None if availability is None else float(availability),
            "met": None if availability is None else availability >= cell.availability_target,
            "outage_periods": outages}
    availability = {d: None if a is None else float(a) for d, a in conn.execute(DISTRICTS, days)}
    coverage = {area: (samples, good, rsrp) for area, samples, good, rsrp
                in conn.execute(COVERAGE, span)}
    districts: dict[str, Any] = {}
    for district in sorted(set(availability) | set(coverage)):
        samples, good, rsrp = coverage.get(district, (0, 0, 0))
        rate = good / samples if samples else None
        available = availability.get(district)
        districts[district] = {
            "availability": available,
            "availability_met": None if available is None else
            available >= cell.availability_target,
            "coverage_rate": rate, "rsrp_rate": rsrp / samples if samples else None,
            "samples": int(samples),
            "coverage_met": None if rate is None else rate >= mr.coverage_target}
    judged = [d for d in districts.values() if d["coverage_met"] is not None]
    reported = {d: c for d, c in cells.items() if c["availability"] is not None}
    worst_ids = sorted(reported, key=lambda d: (reported[d]["availability"], d))[:WORST]
    new = commissioned(catalog, period, cell.new_sites_per_year)
    verdicts = [d["coverage_met"] for d in judged] + [
        c["met"] for c in cells.values() if c["met"] is not None]
    met = None if not verdicts else all(verdicts)
    short = [name for name, d in districts.items() if d["coverage_met"] is False]
    down = sum(1 for c in cells.values() if c["met"] is False)
    verdict_en = ("no 5G data in the period" if met is None else
                  f"coverage met in {len(judged) - len(short)} of {len(judged)} districts; "
                  f"{down} of {len(reported)} cells below {cell.availability_target:.1%} "
                  "availability")
    verdict_zh = ("本期没有5G数据" if met is None else
                  f"{len(judged)}个区县中{len(judged) - len(short)}个覆盖率达标；"
                  f"{len(reported)}个小区中{down}个可用率低于{cell.availability_target:.1%}")
    reports = sum(c["periods"] for c in cells.values())
    return Section(
        key="cells", title_zh="5G基站", title_en="5G: availability, coverage, new sites",
        verdict_zh=verdict_zh, verdict_en=verdict_en, met=met,
        quality=f"{reports} of {len(cells) * expected} expected KPI periods reported "
                f"(one per cell every {cell.report_interval_seconds:g} s); "
                f"{sum(d['samples'] for d in districts.values())} measurement-report samples",
        figures={"availability_target": cell.availability_target,
                 "coverage_target": mr.coverage_target, "cells": cells,
                 "districts": districts, "worst_cells": worst_ids, "commissioned": new},
        chart=bar_chart([(name, d["coverage_rate"]) for name, d in districts.items()],
                        target=mr.coverage_target, bad_below=True,
                        target_label=f"coverage target {mr.coverage_target:.0%}"),
        rows=[{"worst cell": device, "district": cells[device]["district"],
               "availability": f"{cells[device]['availability']:.4f}",
               "outage periods": cells[device]["outage_periods"]} for device in worst_ids])
