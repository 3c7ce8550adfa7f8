"""The datacenter dashboard: energy-based PUE per site against the target, power, alerts."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel, Variable
from fjsense.settings import Settings
from kinds.power.kind import KIND

SITE = Variable("site", "Site", "SELECT DISTINCT site FROM pue_windows ORDER BY 1")


def pue_stat(title: str, sql: str, target: float) -> Panel:
    """A PUE-per-site stat: green below target, orange above, red well above."""
    colors = (("green", None), ("orange", target), ("red", target + 0.15))
    return Panel(title, sql, ("site", "pue"), kind="stat", fmt="table", thresholds=colors,
                 decimals=3, width=12, height=5)


def datacenter_dashboard(settings: Settings) -> Dashboard:
    target = KIND.section(settings).target
    return Dashboard(
        uid="fjsense-datacenter",
        title="Datacenters: PUE (ISO/IEC 30134-2)",
        variables=(SITE,),
        panels=(
            pue_stat(
                "PUE over the selected range (energy-based)",
                "SELECT site, sum(facility_kwh) / nullif(sum(it_kwh), 0) AS pue\n"
                "FROM pue_windows\n"
                "WHERE $__timeFilter(window_end) AND pue IS NOT NULL AND site IN ($site)\n"
                "GROUP BY site ORDER BY site",
                target,
            ),
            pue_stat(
                "Current PUE (15 min)",
                "SELECT site, pue_rolling AS pue FROM (\n"
                "  SELECT DISTINCT ON (site) site, pue_rolling FROM pue_windows\n"
                "  WHERE pue_rolling IS NOT NULL AND site IN ($site) AND $__timeFilter(window_end)\n"
                "  ORDER BY site, window_end DESC) latest\n"
                "ORDER BY site",
                target,
            ),
            Panel(
                f"PUE (15 min rolling) per site, target {target}",
                "SELECT window_end AS \"time\", site AS metric, pue_rolling AS value\n"
                "FROM pue_windows\n"
                "WHERE $__timeFilter(window_end) AND pue_rolling IS NOT NULL AND site IN ($site)\n"
                "ORDER BY 1",
                ("time", "metric", "value"), thresholds=(("green", None), ("red", target)),
                decimals=3, width=24,
            ),
            Panel(
                "Facility vs IT power",
                "SELECT $__timeGroupAlias(ts, $__interval), site || ' ' || circuit AS metric,\n"
                "       avg(kw) AS value\n"
                "FROM power_readings\n"
                "WHERE $__timeFilter(ts) AND site IN ($site) AND circuit IN ('facility', 'it')\n"
                "GROUP BY 1, 2 ORDER BY 1",
                ("time", "metric", "value"), unit="kwatt",
            ),
            Panel(
                "Hourly PUE",
                "SELECT bucket AS \"time\", site AS metric, pue AS value\n"
                "FROM pue_hourly\n"
                "WHERE $__timeFilter(bucket) AND site IN ($site)\n"
                "ORDER BY 1",
                ("time", "metric", "value"), decimals=3,
            ),
            Panel(
                "Recent alerts",
                "SELECT at AS \"time\", group_key AS site, rule, state,"
                " round(value::numeric, 3) AS value, summary\n"
                "FROM alert_events\n"
                "WHERE $__timeFilter(at) AND site IN ($site)\n"
                "ORDER BY at DESC LIMIT 100",
                ("time", "site", "rule", "state", "value", "summary"), kind="table", fmt="table",
                width=24,
            ),
        ),
    )
