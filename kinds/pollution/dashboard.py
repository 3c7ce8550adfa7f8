"""The pollution-source dashboard: the points on a map coloured by today's compliance, hourly
averages against their limits, the data capture rate per unit, and tamper-sign events."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel, Variable, geomap, values_cte
from fjsense.catalog import catalog_of
from fjsense.settings import Settings
from kinds.pollution.kind import KIND, POLLUTANTS, PollutionPoint, PollutionSettings

POINT = Variable("mn", "Monitoring point", "SELECT DISTINCT mn FROM pollution_hourly ORDER BY 1")
FUZHOU = (25.95, 119.4)
TAMPER_RULES = ("pollution-tamper-stuck", "pollution-tamper-pinned", "pollution-tamper-zero-flow",
                "pollution-maintenance")


def _points_sql(settings: Settings) -> str:
    """The catalog's monitoring points: MN, unit, type, position."""
    rows: list[tuple[str | float, ...]] = []
    for site, device in catalog_of(settings).devices(KIND.name):
        assert isinstance(device.spec, PollutionPoint)
        rows.append((device.id, site.id, site.name, device.spec.point, site.lat, site.lon))
    return values_cte("points", ("mn", "site", "unit", "point", "lat", "lon"), rows)


def pollution_dashboard(settings: Settings) -> Dashboard:
    config: PollutionSettings = KIND.section(settings)
    names = "CASE pollutant " + " ".join(f"WHEN '{c}' THEN '{n}'" for c, n in POLLUTANTS.items()) \
        + " ELSE pollutant END"
    rules = ", ".join(f"'{r}'" for r in TAMPER_RULES)
    return Dashboard(
        uid="fjsense-pollution",
        title="Pollution sources (HJ 212): hourly compliance, data capture, tamper signs",
        variables=(POINT,),
        panels=(
            Panel(
                "Points by compliance over the range (0 compliant, 1 exceeded, 2 no valid hour)",
                f"WITH {_points_sql(settings)}\n"
                "SELECT p.mn, p.unit, p.point, p.lat, p.lon,\n"
                "       CASE WHEN bool_or(h.exceeded) THEN 1\n"
                "            WHEN coalesce(bool_or(h.valid), false) THEN 0 ELSE 2 END AS status,\n"
                "       count(*) FILTER (WHERE h.exceeded) AS exceedance_hours\n"
                "FROM points p LEFT JOIN pollution_hourly h\n"
                "  ON h.mn = p.mn AND $__timeFilter(h.hour)\n"
                "WHERE p.mn IN ($mn)\nGROUP BY 1, 2, 3, 4, 5 ORDER BY p.mn",
                ("mn", "unit", "point", "lat", "lon", "status", "exceedance_hours"),
                kind="geomap", fmt="table", width=24, height=12,
                thresholds=(("green", None), ("red", 1), ("gray", 2)),
                options=geomap("status", FUZHOU)),
            Panel(
                "Hourly averages (valid hours, real-time data flagged N) and their limits",
                f"SELECT hour AS \"time\", mn || ' ' || {names} AS metric, avg AS value\n"
                "FROM pollution_hourly\n"
                "WHERE $__timeFilter(hour) AND mn IN ($mn) AND valid\n"
                "UNION ALL\n"
                f"SELECT hour, mn || ' ' || {names} || ' limit', \"limit\"\n"
                "FROM pollution_hourly\n"
                "WHERE $__timeFilter(hour) AND mn IN ($mn) AND \"limit\" IS NOT NULL\n"
                "ORDER BY 1",
                ("time", "metric", "value"), width=24),
            Panel(
                f"Data capture per unit and day (valid hours / 24; an hour is valid with "
                f"{config.valid_share:.0%} of its real-time data normal)",
                "SELECT day, site, points, valid_hours, exceedance_hours, maintenance_hours,\n"
                "       capture_rate\n"
                "FROM pollution_compliance_daily\n"
                "WHERE day BETWEEN ($__timeFrom()::timestamptz AT TIME ZONE 'Asia/Shanghai')::date\n"
                "  AND ($__timeTo()::timestamptz AT TIME ZONE 'Asia/Shanghai')::date\n"
                "ORDER BY day DESC, site",
                ("day", "site", "points", "valid_hours", "exceedance_hours",
                 "maintenance_hours", "capture_rate"), kind="table", fmt="table",
                unit="percentunit"),
            Panel(
                "Tamper signs and maintenance flags",
                "SELECT at AS \"time\", rule, group_key AS mn, state, value, summary\n"
                f"FROM alert_events WHERE rule IN ({rules}) AND state <> 'pending'\n"
                "  AND $__timeFilter(at) AND group_key IN ($mn)\nORDER BY at DESC LIMIT 200",
                ("time", "rule", "mn", "state", "value", "summary"), kind="table",
                fmt="table"),
        ),
    )
