"""The thermometer's one dashboard."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel
from fjsense.settings import Settings


def dashboard(settings: Settings) -> Dashboard:
    return Dashboard(uid="fjsense-thermometer", title="Thermometers", panels=(Panel(
        "5-minute mean temperature",
        "SELECT window_end AS \"time\", site AS metric, mean_c AS value\n"
        "FROM thermometer_means WHERE $__timeFilter(window_end) ORDER BY 1",
        ("time", "metric", "value"), unit="celsius"),))
