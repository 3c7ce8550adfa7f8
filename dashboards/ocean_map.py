"""福建海洋一张图 / Fujian ocean one map: every ocean station on one geomap, coloured by its
worst current state, and the same as a table linking into each station's dashboard.

Each kind with ocean stations gives its layer (stage code ``ocean_map``: settings → SQL with
the columns ``LAYER_COLUMNS``, ``level`` 0 green … 4 red, judged at the dashboard's time-to);
the platform adds the broadcast points and raises any station to the level of its worst
firing alert (info and blue 1, warning and yellow 2, orange 3, critical and red 4).
"""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel, geomap, values_cte
from fjsense.catalog import catalog_of
from fjsense.registry import SensorKind
from fjsense.settings import Settings

LAYER_COLUMNS = ("station", "name", "layer", "lat", "lon", "level", "state", "dashboard")
LEVEL_COLOURS = (("green", None), ("blue", 1), ("yellow", 2), ("orange", 3), ("red", 4))
FUJIAN_COAST = (25.4, 119.2)
SEVERITY_LEVEL = ("CASE severity WHEN 'info' THEN 1 WHEN 'blue' THEN 1 WHEN 'warning' THEN 2 "
                  "WHEN 'yellow' THEN 2 WHEN 'orange' THEN 3 ELSE 4 END")
FIRING = (
    "firing AS (SELECT coalesce(site, group_key) AS station, max(" + SEVERITY_LEVEL + ") AS "
    "level, string_agg(rule, ', ' ORDER BY rule) AS alerts\n"
    "  FROM (SELECT DISTINCT ON (rule, group_key) rule, group_key, site, state, severity\n"
    "        FROM alert_events WHERE state <> 'pending' AND at <= $__timeTo()\n"
    "        ORDER BY rule, group_key, at DESC) latest\n"
    "  WHERE state = 'firing' GROUP BY 1)")


def points_layer(settings: Settings) -> str:
    """The broadcast points: blue while one waits for an acknowledgement, orange once it has
    waited past ``broadcast.silent_after_seconds``."""
    points = [(p.id, p.name, p.lat, p.lon) for p in catalog_of(settings).broadcast_points]
    if not points:
        return ""
    silent = settings.broadcast.silent_after_seconds
    return (
        f"WITH {values_cte('points', ('station', 'name', 'lat', 'lon'), points)}\n"
        "SELECT p.station, p.name, 'broadcast point' AS layer, p.lat, p.lon,\n"
        f"  CASE WHEN b.unacked_s > {silent:g} THEN 3 WHEN b.waiting > 0 THEN 1 ELSE 0 END\n"
        "    AS level,\n"
        "  CASE WHEN b.device IS NULL THEN 'no report' WHEN b.waiting > 0 THEN\n"
        "    'waiting ' || round(b.unacked_s::numeric) || ' s for an acknowledgement'\n"
        "    ELSE 'acknowledged everything' END AS state,\n"
        "  'fjsense-alerts' AS dashboard\n"
        "FROM points p LEFT JOIN broadcast_status b ON b.device = p.station")


def stations_sql(settings: Settings, kinds: dict[str, SensorKind]) -> str:
    """Every layer's stations with the worst of their own state and their firing alerts."""
    layers = [kind.load("ocean_map")(settings) for kind in kinds.values()
              if kind.ocean_map is not None]
    layers = [sql for sql in [*layers, points_layer(settings)] if sql]
    union = "\n  UNION ALL\n".join(f"({sql})" for sql in layers)
    colours = "(ARRAY[" + ", ".join(f"'{c}'" for c, _ in LEVEL_COLOURS) + "])"
    return (
        f"WITH layers AS (\n{union}),\n{FIRING}\n"
        "SELECT l.station, l.name, l.layer, l.lat, l.lon,\n"
        "  greatest(l.level, coalesce(f.level, 0)) AS level,\n"
        f"  {colours}[greatest(l.level, coalesce(f.level, 0)) + 1] AS colour,\n"
        "  l.state, coalesce(f.alerts, '') AS alerts,\n"
        "  '/d/' || l.dashboard || '?var-station=' || l.station AS link\n"
        "FROM layers l LEFT JOIN firing f ON f.station = l.station\n"
        "ORDER BY 6 DESC, l.layer, l.station")


def ocean_map_dashboard(settings: Settings, kinds: dict[str, SensorKind]) -> Dashboard:
    """The ocean's one map (海洋环境信息“一张图”): buoys, tide gauges and broadcast points."""
    sql = stations_sql(settings, kinds)
    columns = ("station", "name", "layer", "lat", "lon", "level", "colour", "state", "alerts",
               "link")
    return Dashboard(
        uid="fjsense-ocean-map",
        title="福建海洋一张图 / Fujian ocean one map",
        panels=(
            Panel("Every ocean station by its worst current state (QC, water class, warning "
                  "colour, firing alerts)", sql, columns, kind="geomap", fmt="table",
                  width=24, height=14, thresholds=LEVEL_COLOURS,
                  options=geomap("level", FUJIAN_COAST, zoom=7)),
            Panel("Ocean stations, worst first (open a row for its dashboard)", sql, columns,
                  kind="table", fmt="table", width=24, height=12, thresholds=LEVEL_COLOURS,
                  links=({"title": "the station's dashboard", "url": "${__data.fields.link}"},)),
        ),
        tags=("fjsense", "ocean"),
    )
