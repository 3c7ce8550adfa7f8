"""The ocean dashboard: stations by seawater quality class, QC'd variables with failed points
apart, hypoxia and bloom risk, wave height against the warning levels."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel, Variable, values_cte
from fjsense.catalog import catalog_of
from fjsense.settings import Settings
from kinds.buoy.kind import KIND, BuoySettings

STATION = Variable("station", "Station",
                   "SELECT DISTINCT station FROM buoy_observations ORDER BY 1")
VARIABLE = Variable("variable", "Variable",
                    "SELECT DISTINCT variable FROM buoy_observations ORDER BY 1")


def ocean_dashboard(settings: Settings) -> Dashboard:
    buoy: BuoySettings = KIND.section(settings)
    waves = (("green", None), ("blue", buoy.wave_blue_m), ("yellow", buoy.wave_yellow_m),
             ("orange", buoy.wave_orange_m), ("red", buoy.wave_red_m))
    return Dashboard(
        uid="fjsense-ocean",
        title="Ocean buoys: quality control, seawater quality (GB 3097-1997), hypoxia, waves",
        variables=(STATION, VARIABLE),
        panels=(
            Panel(
                "Stations by current seawater quality class (map: lat, lon)",
                "SELECT DISTINCT ON (station) station, quality_class, class_label, limiting,\n"
                "       lat, lon\n"
                "FROM buoy_quality_hourly WHERE $__timeFilter(hour) AND station IN ($station)\n"
                "ORDER BY station, hour DESC",
                ("station", "quality_class", "class_label", "limiting", "lat", "lon"),
                kind="table", fmt="table", width=24,
                thresholds=(("green", None), ("yellow", 3), ("orange", 4), ("red", 5))),
            Panel(
                "Values that passed QC",
                "SELECT ts AS \"time\", station || ' ' || variable AS metric, value\n"
                "FROM buoy_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND variable IN ($variable)\n"
                "  AND qc = 1\nORDER BY 1",
                ("time", "metric", "value"), width=24),
            Panel(
                "Values flagged by QC (3 suspect, 4 fail) and the tests that flagged them",
                "SELECT ts AS \"time\", station, variable, value, qc, tests\n"
                "FROM buoy_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND qc IN (3, 4)\n"
                "ORDER BY ts DESC LIMIT 200",
                ("time", "station", "variable", "value", "qc", "tests"), kind="table",
                fmt="table", width=24),
            Panel(
                f"Dissolved oxygen (hypoxia at {buoy.hypoxia_warning_mg_l} mg/L, severe at "
                f"{buoy.hypoxia_critical_mg_l})",
                "SELECT ts AS \"time\", station AS metric, value\n"
                "FROM buoy_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND variable = 'do_mg_l'\n"
                "  AND qc = 1\nORDER BY 1",
                ("time", "metric", "value"), unit="none", decimals=2,
                thresholds=(("red", None), ("orange", buoy.hypoxia_critical_mg_l),
                            ("green", buoy.hypoxia_warning_mg_l))),
            Panel(
                "Algal-bloom risk and chlorophyll-a (alerts at "
                f"{buoy.bloom_alert_score})",
                "SELECT at AS \"time\", group_key AS metric, value\n"
                "FROM alert_events\n"
                "WHERE $__timeFilter(at) AND rule = 'buoy-bloom-risk'\n"
                "UNION ALL\n"
                "SELECT ts, station || ' chl-a µg/L', value FROM buoy_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station) AND variable = 'chl_ug_l'\n"
                "  AND qc = 1\nORDER BY 1",
                ("time", "metric", "value")),
            Panel(
                "Significant wave height against the warning levels",
                "SELECT ts AS \"time\", station AS metric, value\n"
                "FROM buoy_observations\n"
                "WHERE $__timeFilter(ts) AND station IN ($station)\n"
                "  AND variable = 'wave_height_m' AND qc = 1\nORDER BY 1",
                ("time", "metric", "value"), unit="lengthm", thresholds=waves, width=24),
            Panel(
                "Hourly quality class per station (1-4: class I-IV, 5: worse than IV)",
                "SELECT hour AS \"time\", station AS metric, quality_class AS value\n"
                "FROM buoy_quality_hourly\n"
                "WHERE $__timeFilter(hour) AND station IN ($station)\nORDER BY 1",
                ("time", "metric", "value"), decimals=0),
        ),
    )


def buoy_map_layer(settings: Settings) -> str:
    """The buoys on the ocean's one map: the latest hour's GB 3097 class (III yellow, IV
    orange, worse than IV red) and the last hour's QC (a suspect value blue, a failed one
    yellow; nothing at all blue)."""
    stations = values_cte("stations", ("station", "name", "lat", "lon"), [
        (s.id, s.name, s.lat, s.lon) for s in catalog_of(settings).sites_of(KIND.name)])
    silent = "c.station IS NULL"
    return (
        f"WITH {stations},\n"
        "quality AS (SELECT DISTINCT ON (station) station, quality_class, class_label\n"
        "  FROM buoy_quality_hourly WHERE hour <= $__timeTo()\n"
        "    AND hour > $__timeTo()::timestamptz - interval '1 day'\n"
        "  ORDER BY station, hour DESC),\n"
        "qc AS (SELECT station, max(qc) FILTER (WHERE qc IN (3, 4)) AS worst\n"
        "  FROM buoy_observations WHERE ts <= $__timeTo()\n"
        "    AND ts > $__timeTo()::timestamptz - interval '1 hour' GROUP BY station)\n"
        "SELECT s.station, s.name, 'buoy' AS layer, s.lat, s.lon,\n"
        "  greatest(CASE q.quality_class WHEN 3 THEN 2 WHEN 4 THEN 3 WHEN 5 THEN 4 ELSE 0 END,\n"
        f"    CASE WHEN {silent} THEN 1 WHEN c.worst = 4 THEN 2 WHEN c.worst = 3 THEN 1\n"
        "    ELSE 0 END) AS level,\n"
        "  concat_ws('; ', 'class ' || q.class_label,\n"
        f"    CASE WHEN {silent} THEN 'no reading in the last hour' WHEN c.worst = 4 THEN\n"
        "      'a value failed QC' WHEN c.worst = 3 THEN 'a value suspect in QC' END) AS state,\n"
        "  'fjsense-ocean' AS dashboard\n"
        "FROM stations s LEFT JOIN quality q ON q.station = s.station\n"
        "  LEFT JOIN qc c ON c.station = s.station")
