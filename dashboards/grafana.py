"""Small builders for Grafana dashboard JSON (schema 39) with PostgreSQL panels (and
Prometheus panels for the platform's own metrics)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "fjsense-db"}
# the platform's own metrics, scraped by compose's `monitoring` profile (deploy/prometheus)
PROMETHEUS = {"type": "prometheus", "uid": "fjsense-prometheus"}
# The one Grafana the project targets: compose runs it, and the dashboards and alert rules are
# checked against its typed models (grafana-foundation-sdk's build for it, pinned in
# pyproject.toml); tests/dashboards/test_grafana_models.py checks that all three agree.
GRAFANA_VERSION = "11.6.0"


@dataclass(frozen=True)
class Panel:
    """One panel: a title, its SQL, the columns it must return, and how to draw it."""

    title: str
    sql: str
    columns: tuple[str, ...]
    kind: str = "timeseries"  # timeseries | stat | table
    unit: str = "none"
    fmt: str = "time_series"  # time_series | table
    thresholds: tuple[tuple[str, float | None], ...] = ()
    width: int = 12
    height: int = 8
    decimals: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    links: tuple[dict[str, str], ...] = ()  # data links of every field (title, url)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        """The panel as Grafana's dashboard JSON model has it."""
        steps = [{"color": color, "value": value} for color, value in self.thresholds]
        defaults: dict[str, Any] = {"unit": self.unit}
        if steps:
            defaults["thresholds"] = {"mode": "absolute", "steps": steps}
            if self.kind == "timeseries":
                defaults["custom"] = {"thresholdsStyle": {"mode": "line+area"}}
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.links:
            defaults["links"] = list(self.links)
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": self.options,
            "targets": [{
                "refId": "A",
                "datasource": DATASOURCE,
                "editorMode": "code",
                "format": self.fmt,
                "rawQuery": True,
                "rawSql": self.sql,
            }],
        }


@dataclass(frozen=True)
class MetricsPanel:
    """A time series of PromQL over the components' own metrics (``fjsense/metrics.py``):
    Prometheus cannot run here, so tests check that each metric it names is one a running
    component serves."""

    title: str
    expr: str
    legend: str
    unit: str = "none"
    width: int = 12
    height: int = 8

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        """The panel as Grafana's dashboard JSON model has it."""
        return {
            "id": panel_id, "type": "timeseries", "title": self.title, "datasource": PROMETHEUS,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "fieldConfig": {"defaults": {"unit": self.unit}, "overrides": []}, "options": {},
            "targets": [{"refId": "A", "datasource": PROMETHEUS, "expr": self.expr,
                         "legendFormat": self.legend, "range": True}],
        }


def values_cte(name: str, columns: tuple[str, ...],
               rows: Sequence[tuple[str | float, ...]]) -> str:
    """A CTE of literal rows: what lives in the catalog, not the database (stations, cells,
    monitoring points), for a panel to join. Strings are quoted, numbers written in full."""
    def literal(value: str | float) -> str:
        return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else f"{value:.10g}"

    body = ",\n  ".join("(" + ", ".join(map(literal, row)) + ")" for row in rows)
    return f"{name}({', '.join(columns)}) AS (VALUES\n  {body})"


def geomap(colour_field: str, centre: tuple[float, float], zoom: int = 9) -> dict[str, Any]:
    """Options of a Geomap panel: markers at the rows' (lat, lon), coloured by
    ``colour_field`` through the panel's thresholds."""
    return {"view": {"id": "coords", "lat": centre[0], "lon": centre[1], "zoom": zoom},
            "controls": {"showZoom": True},
            "layers": [{"type": "markers", "name": colour_field,
                        "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                        "config": {"showLegend": True, "style": {
                            "color": {"field": colour_field}, "size": {"fixed": 6},
                            "symbol": {"fixed": "img/icons/marker/circle.svg"}}}}]}


@dataclass(frozen=True)
class Variable:
    """A multi-value query variable (e.g. ``site``)."""

    name: str
    label: str
    sql: str

    def to_json(self) -> dict[str, Any]:
        """The template variable as Grafana's dashboard JSON model has it."""
        return {
            "name": self.name, "label": self.label, "type": "query", "datasource": DATASOURCE,
            "query": self.sql, "definition": self.sql, "refresh": 2, "multi": True,
            "includeAll": True, "current": {"text": "All", "value": "$__all"},
        }


@dataclass(frozen=True)
class Annotation:
    """Events drawn over every time panel: its SQL returns ``time``, ``text`` and ``tags``."""

    name: str
    sql: str
    color: str = "red"
    columns: tuple[str, ...] = ("time", "text", "tags")

    def to_json(self) -> dict[str, Any]:
        """The annotation query as Grafana's dashboard JSON model has it."""
        return {"name": self.name, "datasource": DATASOURCE, "enable": True,
                "iconColor": self.color, "rawQuery": self.sql,
                "target": {"refId": "Anno", "editorMode": "code", "format": "table",
                           "rawQuery": True, "rawSql": self.sql}}


# Alert transitions over the sensor panels of every kind's dashboard
ALERT_ANNOTATION = Annotation(
    "alert transitions",
    "SELECT at AS \"time\", rule || ' ' || state || ': ' || summary AS text,\n"
    "  group_key || ',' || severity AS tags\n"
    "FROM alert_events WHERE $__timeFilter(at) AND state <> 'pending'\nORDER BY at")


@dataclass(frozen=True)
class Dashboard:
    """A dashboard as code: its panels' SQL run in tests, its JSON written for provisioning."""

    uid: str
    title: str
    panels: tuple[Panel | MetricsPanel, ...]
    variables: tuple[Variable, ...] = ()
    annotations: tuple[Annotation, ...] = (ALERT_ANNOTATION,)
    tags: tuple[str, ...] = ("fjsense",)
    refresh: str = "10s"
    time_from: str = "now-6h"

    def to_json(self) -> dict[str, Any]:
        """The dashboard as Grafana's JSON model has it, panels laid out on the grid."""
        laid_out, x, y, row_height = [], 0, 0, 0
        for n, panel in enumerate(self.panels, start=1):
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            laid_out.append(panel.to_json(n, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid, "title": self.title, "tags": list(self.tags),
            "timezone": "Asia/Shanghai", "schemaVersion": 39, "version": 1,
            "refresh": self.refresh, "time": {"from": self.time_from, "to": "now"},
            "templating": {"list": [v.to_json() for v in self.variables]},
            "annotations": {"list": [a.to_json() for a in self.annotations]},
            "panels": laid_out, "editable": True,
        }
