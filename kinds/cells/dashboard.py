"""The 5G dashboard: a Geomap of H3 hexagons coloured by coverage rate and of cells coloured by
status, coverage and availability per district against their targets, daily throughput, the
RSRP distribution, and the outages firing now."""

from __future__ import annotations

import math

from dashboards.grafana import Dashboard, Panel, Variable, geomap, values_cte
from fjsense.catalog import catalog_of
from fjsense.settings import Settings
from kinds.cells.cell import KIND, CellDevice, CellSettings
from kinds.cells.mr import BIN_COLUMNS, MrSettings
from kinds.cells.mr import KIND as MR

DISTRICT = Variable("district", "District",
                    "SELECT DISTINCT area FROM coverage_windows WHERE area_type = 'district' "
                    "ORDER BY 1")
FUZHOU = (26.05, 119.3)
CELL_OFFSET_M = 60.0  # a cell's marker sits this far from its site, towards its azimuth
OUTAGE_RULES = ("cell-outage", "site-outage", "cell-cluster-outage")
BEIJING_DAYS = ("day BETWEEN ($__timeFrom()::timestamptz AT TIME ZONE 'Asia/Shanghai')::date\n"
                "  AND ($__timeTo()::timestamptz AT TIME ZONE 'Asia/Shanghai')::date")


def _cells_sql(settings: Settings) -> str:
    """The catalog's cells, each marked a little off its site towards its azimuth."""
    rows: list[tuple[str | float, ...]] = []
    for site, device in catalog_of(settings).devices(KIND.name):
        spec = device.spec
        assert isinstance(spec, CellDevice)
        north = CELL_OFFSET_M * math.cos(math.radians(spec.azimuth_deg)) / 111_320
        east = CELL_OFFSET_M * math.sin(math.radians(spec.azimuth_deg)) / (
            111_320 * math.cos(math.radians(site.lat)))
        rows.append((device.id, site.id, site.district or site.region,
                     round(site.lat + north, 5), round(site.lon + east, 5)))
    return values_cte("cells", ("device", "site", "district", "lat", "lon"), rows)


def cells_dashboard(settings: Settings) -> Dashboard:
    cell: CellSettings = KIND.section(settings)
    mr: MrSettings = MR.section(settings)
    coverage = (("red", None), ("orange", mr.coverage_target - 0.05),
                ("green", mr.coverage_target))
    availability = (("red", None), ("orange", cell.outage_below),
                    ("green", cell.availability_target))
    rules = ", ".join(f"'{r}'" for r in OUTAGE_RULES)
    thin = max(1, mr.min_samples // 20)  # a hexagon holds a few per cent of a district
    firing = ("SELECT * FROM (SELECT DISTINCT ON (rule, group_key) * FROM alert_events\n"
              f"      WHERE rule IN ({rules}) AND state <> 'pending' AND at <= $__timeTo()\n"
              "      ORDER BY rule, group_key, at DESC) last WHERE state = 'firing'")
    bins = ", ".join(f"sum({c})::float / nullif(sum(samples), 0) AS {c}" for c in BIN_COLUMNS)
    return Dashboard(
        uid="fjsense-cells",
        title="5G cells: coverage from measurement reports, availability, outages",
        variables=(DISTRICT,),
        panels=(
            Panel(
                f"Coverage rate per H3 hexagon, its latest 15 minutes in the range (RSRP ≥ "
                f"{mr.rsrp_good_dbm:g} dBm and SINR ≥ {mr.sinr_good_db:g} dB; windows under "
                f"{thin} samples left out)",
                "SELECT DISTINCT ON (area) area, lat, lon, coverage_rate, samples\n"
                "FROM coverage_windows\n"
                f"WHERE area_type = 'h3' AND samples >= {thin} AND $__timeFilter(window_start)\n"
                "ORDER BY area, window_start DESC",
                ("area", "lat", "lon", "coverage_rate", "samples"), kind="geomap", fmt="table",
                width=12, height=12, unit="percentunit", thresholds=coverage,
                options=geomap("coverage_rate", FUZHOU)),
            Panel(
                "Cells by status now (2 out, 1 below the availability target, 0 in service)",
                f"WITH {_cells_sql(settings)},\n"
                "latest AS (SELECT DISTINCT ON (device) device, availability FROM cell_kpis\n"
                "           WHERE $__timeFilter(ts) ORDER BY device, ts DESC),\n"
                f"out AS ({firing})\n"
                "SELECT c.device, c.site, c.district, c.lat, c.lon,\n"
                "       CASE WHEN EXISTS (SELECT 1 FROM out o WHERE o.group_key IN (c.device,\n"
                "                         c.site)) THEN 2\n"
                f"            WHEN l.availability < {cell.availability_target} THEN 1\n"
                "            ELSE 0 END AS status, l.availability\n"
                "FROM cells c JOIN latest l USING (device)\n"
                "WHERE c.district IN ($district)\nORDER BY c.device",
                ("device", "site", "district", "lat", "lon", "status", "availability"),
                kind="geomap", fmt="table", width=12, height=12,
                thresholds=(("green", None), ("orange", 1), ("red", 2)),
                options=geomap("status", FUZHOU)),
            Panel(
                f"Coverage rate per district, 15-minute windows (target {mr.coverage_target:.0%})",
                "SELECT window_start AS \"time\", area AS metric, coverage_rate AS value\n"
                "FROM coverage_windows\n"
                "WHERE area_type = 'district' AND area IN ($district)\n"
                "  AND $__timeFilter(window_start)\nORDER BY 1",
                ("time", "metric", "value"), unit="percentunit", thresholds=coverage),
            Panel(
                f"Cell availability per district and day (target {cell.availability_target:.1%})",
                "SELECT day::timestamp AT TIME ZONE 'Asia/Shanghai' AS \"time\",\n"
                "       district AS metric, availability AS value\n"
                "FROM district_daily\n"
                f"WHERE district IN ($district) AND {BEIJING_DAYS}\nORDER BY 1",
                ("time", "metric", "value"), unit="percentunit", thresholds=availability),
            Panel(
                "Outages firing now",
                f"WITH out AS ({firing})\n"
                "SELECT at AS \"time\", rule, group_key, summary FROM out\n"
                "ORDER BY at DESC",
                ("time", "rule", "group_key", "summary"), kind="table", fmt="table"),
            Panel(
                f"Downlink per district and day: mean, and the share of cells above "
                f"{cell.throughput_good_mbps:g} Mbps",
                "SELECT district, day, count(*) AS cells, avg(mean_dl_mbps) AS mean_dl_mbps,\n"
                f"       avg((mean_dl_mbps > {cell.throughput_good_mbps})::int) AS share_good\n"
                "FROM cell_daily\n"
                f"WHERE district IN ($district) AND {BEIJING_DAYS}\n"
                "GROUP BY district, day ORDER BY day DESC, district",
                ("district", "day", "cells", "mean_dl_mbps", "share_good"), kind="table",
                fmt="table"),
            Panel(
                "RSRP distribution per district over the range (share of samples per bin, dBm)",
                f"SELECT area AS district, sum(samples) AS samples, {bins}\n"
                "FROM coverage_windows\n"
                "WHERE area_type = 'district' AND area IN ($district)\n"
                "  AND $__timeFilter(window_start)\nGROUP BY area ORDER BY area",
                ("district", "samples", *BIN_COLUMNS), kind="table", fmt="table", width=24),
        ),
    )
