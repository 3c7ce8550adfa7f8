"""The tide dashboard: observed level against the astronomical tide and the station's warning
levels, storm surge, the next predicted high waters, the high waters observed and the warning
each reached, the stations on a map coloured by today's highest warning, the constituents."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel, Variable, values_cte
from fjsense.catalog import catalog_of
from fjsense.settings import Settings
from kinds.tide.kind import COLOURS, KIND, TideSettings, TideStation

STATION = Variable("station", "Station",
                   "SELECT DISTINCT station FROM tide_observations ORDER BY 1")
WARNING_COLOURS = (("green", None), ("blue", 1), ("yellow", 2), ("orange", 3), ("red", 4))


def _stations_sql(settings: Settings) -> str:
    """The catalog's tide stations: id, position and warning levels."""
    rows = []
    for site in catalog_of(settings).sites_of(KIND.name):
        assert isinstance(site.spec, TideStation)
        rows.append((site.id, site.lat, site.lon, *site.spec.warning_levels.ordered()))
    return values_cte("stations", ("station", "lat", "lon", "blue", "yellow", "orange", "red"),
                      rows)


def tide_dashboard(settings: Settings) -> Dashboard:
    tide: TideSettings = KIND.section(settings)
    stations = _stations_sql(settings)
    colour = "(ARRAY[" + ", ".join(f"'{c}'" for c in COLOURS) + "])"
    return Dashboard(
        uid="fjsense-tide",
        title="Tide stations: astronomical tide, storm surge, warning tide levels",
        variables=(STATION,),
        panels=(
            Panel(
                "Stations by the highest warning level reached today (map: lat, lon)",
                f"WITH {stations}\n"
                "SELECT s.station, s.lat, s.lon, coalesce(t.reached, 0) AS warning_level,\n"
                f"       {colour}[coalesce(t.reached, 0) + 1] AS warning, t.level_m\n"
                "FROM stations s LEFT JOIN (\n"
                "  SELECT station, max(warning_level) AS reached, max(level_m) AS level_m\n"
                "  FROM tide_observations\n"
                "  WHERE ts >= date_trunc('day', $__timeTo()::timestamptz) AND qc = 1\n"
                "    AND ts <= $__timeTo()\n"
                "  GROUP BY station) t ON t.station = s.station\n"
                "WHERE s.station IN ($station)\nORDER BY s.station",
                ("station", "lat", "lon", "warning_level", "warning", "level_m"),
                kind="table", fmt="table", width=24, thresholds=WARNING_COLOURS),
            Panel(
                "Observed level, astronomical tide and the warning levels (m above datum)",
                f"WITH {stations}\n"
                "SELECT ts AS \"time\", station || ' observed' AS metric, level_m AS value\n"
                "FROM tide_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND qc = 1\n"
                "UNION ALL\n"
                "SELECT ts, station || ' predicted', predicted_m FROM tide_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station)\n"
                "  AND predicted_m IS NOT NULL\n"
                "UNION ALL\n"
                "SELECT edge, station || ' ' || colour, level FROM stations\n"
                "CROSS JOIN LATERAL (VALUES ('blue', blue), ('yellow', yellow),\n"
                "  ('orange', orange), ('red', red)) AS w(colour, level)\n"
                "CROSS JOIN (VALUES ($__timeFrom()::timestamptz), ($__timeTo()::timestamptz))\n"
                "  AS e(edge)\n"
                "WHERE station IN ($station)\nORDER BY 1",
                ("time", "metric", "value"), unit="lengthm", width=24),
            Panel(
                f"Storm surge: observed - predicted (alert above {tide.surge_alert_m} m)",
                "SELECT ts AS \"time\", station AS metric, surge_m AS value\n"
                "FROM tide_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND qc = 1\n"
                "  AND surge_m IS NOT NULL\nORDER BY 1",
                ("time", "metric", "value"), unit="lengthm", decimals=2,
                thresholds=(("green", None), ("orange", tide.surge_clear_m),
                            ("red", tide.surge_alert_m))),
            Panel(
                "Next high waters (astronomical, from the newest constituents)",
                "SELECT station, ts AS \"time\", predicted_m, version FROM (\n"
                "  SELECT station, ts, predicted_m, version,\n"
                "         lag(predicted_m) OVER w AS before, lead(predicted_m) OVER w AS after\n"
                "  FROM tide_predictions WHERE station IN ($station)\n"
                "    AND ts BETWEEN $__timeTo()::timestamptz - INTERVAL '1 hour'\n"
                "                AND $__timeTo()::timestamptz + INTERVAL '3 days'\n"
                "  WINDOW w AS (PARTITION BY station ORDER BY ts)) p\n"
                "WHERE predicted_m > before AND predicted_m >= after\n"
                "  AND ts >= $__timeTo()\nORDER BY ts LIMIT 24",
                ("station", "time", "predicted_m", "version"), kind="table", fmt="table"),
            Panel(
                "High waters observed, with their surge and the warning each reached",
                "SELECT ts AS \"time\", station, level_m, predicted_m, surge_m, warning\n"
                "FROM tide_high_waters\n"
                "WHERE $__timeFilter(ts) AND station IN ($station)\nORDER BY ts DESC LIMIT 100",
                ("time", "station", "level_m", "predicted_m", "surge_m", "warning"),
                kind="table", fmt="table"),
            Panel(
                "Levels flagged by QC (3 suspect, 4 fail) and the tests that flagged them",
                "SELECT ts AS \"time\", station, level_m, qc, tests\n"
                "FROM tide_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND qc IN (3, 4)\n"
                "ORDER BY ts DESC LIMIT 200",
                ("time", "station", "level_m", "qc", "tests"), kind="table", fmt="table"),
            Panel(
                "Constituents of each station's newest fit (95% intervals)",
                "SELECT c.station, c.version, c.name, c.amplitude_m, c.amplitude_ci_m,\n"
                "       c.phase_deg, c.phase_ci_deg, c.snr\n"
                "FROM tide_constituents c\n"
                "JOIN (SELECT station, max(version) AS version FROM tide_fits\n"
                "      GROUP BY station) f USING (station, version)\n"
                "WHERE c.station IN ($station)\nORDER BY c.station, c.amplitude_m DESC",
                ("station", "version", "name", "amplitude_m", "amplitude_ci_m", "phase_deg",
                 "phase_ci_deg", "snr"), kind="table", fmt="table", width=24),
        ),
    )


def tide_map_layer(settings: Settings) -> str:
    """The tide gauges on the ocean's one map: today's (Beijing) highest warning level reached
    by a level that passed QC, and blue when the gauge sent nothing in the last hour."""
    stations = values_cte("stations", ("station", "name", "lat", "lon"), [
        (s.id, s.name, s.lat, s.lon) for s in catalog_of(settings).sites_of(KIND.name)])
    colour = "(ARRAY[" + ", ".join(f"'{c}'" for c in COLOURS) + "])"
    return (
        f"WITH {stations},\n"
        "today AS (SELECT station, max(warning_level) FILTER (WHERE qc = 1) AS reached,\n"
        "  max(ts) AS newest FROM tide_observations\n"
        "  WHERE ts >= date_trunc('day', $__timeTo()::timestamptz AT TIME ZONE 'Asia/Shanghai')\n"
        "    AT TIME ZONE 'Asia/Shanghai' AND ts <= $__timeTo() GROUP BY station)\n"
        "SELECT s.station, s.name, 'tide gauge' AS layer, s.lat, s.lon,\n"
        "  greatest(coalesce(t.reached, 0), CASE WHEN t.newest IS NULL OR t.newest <\n"
        "    $__timeTo()::timestamptz - interval '1 hour' THEN 1 ELSE 0 END) AS level,\n"
        f"  concat_ws('; ', 'warning today: ' || {colour}[coalesce(t.reached, 0) + 1],\n"
        "    CASE WHEN t.newest IS NULL OR t.newest < $__timeTo()::timestamptz - interval\n"
        "      '1 hour' THEN 'no reading in the last hour' END) AS state,\n"
        "  'fjsense-tide' AS dashboard\n"
        "FROM stations s LEFT JOIN today t ON t.station = s.station")
