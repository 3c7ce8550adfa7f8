"""The pipeline-health dashboard: throughput per stage, dead letters, lag and latency, over
every kind of the registry, and the devices whose clocks are worst off."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel
from fjsense.registry import SensorKind


def _per_stage(kinds: dict[str, SensorKind]) -> str:
    parts = []
    for kind in kinds.values():
        table = kind.table.name
        parts.append(
            f"SELECT $__timeGroupAlias(ingest_ts, $__interval), 'bridge: {kind.name} readings in'"
            f" AS metric, count(*) AS value\nFROM {table} WHERE $__timeFilter(ingest_ts) GROUP BY 1")
        parts.append(
            f"SELECT $__timeGroupAlias(stored_at, $__interval), 'sink: {kind.name} readings "
            f"stored', count(*)\nFROM {table} WHERE $__timeFilter(stored_at) GROUP BY 1")
        for stream in kind.derived:
            if stream.table is not None:
                parts.append(
                    f"SELECT $__timeGroupAlias(stored_at, $__interval), 'worker: "
                    f"{stream.table.name}', count(*)\nFROM {stream.table.name} "
                    "WHERE $__timeFilter(stored_at) GROUP BY 1")
    return "\nUNION ALL\n".join(parts) + "\nORDER BY 1"


def _latency(kinds: dict[str, SensorKind]) -> str:
    lags = "\nUNION ALL\n".join(
        f"SELECT stored_at, extract(epoch FROM stored_at - ingest_ts) AS lag FROM "
        f"{kind.table.name} WHERE $__timeFilter(stored_at)" for kind in kinds.values())
    return ("SELECT $__timeGroupAlias(stored_at, $__interval),\n"
            "  percentile_cont(0.5) WITHIN GROUP (ORDER BY lag) AS p50,\n"
            "  percentile_cont(0.99) WITHIN GROUP (ORDER BY lag) AS p99\n"
            f"FROM (\n{lags}\n) readings GROUP BY 1 ORDER BY 1")


def pipeline_dashboard(kinds: dict[str, SensorKind]) -> Dashboard:
    """The pipeline's own dashboard: readings per kind, dead letters, lateness, device clocks;
    built from the registry."""
    return Dashboard(
        uid="fjsense-pipeline",
        title="fjsense pipeline health",
        panels=(
            Panel("Messages per stage", _per_stage(kinds), ("time", "metric", "value"), width=24),
            Panel("Ingest → stored latency", _latency(kinds), ("time", "p50", "p99"), unit="s"),
            Panel(
                "Sink consumer lag",
                "SELECT $__timeGroupAlias(ts, $__interval), topic AS metric,"
                " max(consumer_lag) AS value\n"
                "FROM pipeline_metrics WHERE $__timeFilter(ts) GROUP BY 1, 2 ORDER BY 1",
                ("time", "metric", "value"),
            ),
            Panel(
                "Dead letters per minute",
                "SELECT $__timeGroupAlias(received_at, '1m'), stage AS metric, count(*) AS value\n"
                "FROM dead_letters WHERE $__timeFilter(received_at) GROUP BY 1, 2 ORDER BY 1",
                ("time", "metric", "value"),
            ),
            Panel(
                "Dead letters by reason",
                "SELECT stage, left(reason, 100) AS reason, count(*) AS messages,"
                " max(received_at) AS last_seen\n"
                "FROM dead_letters WHERE $__timeFilter(received_at)\n"
                "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 50",
                ("stage", "reason", "messages", "last_seen"), kind="table", fmt="table",
            ),
            Panel(
                "Worst device clocks",
                # the latest estimate per device (ingest/clocks.py), however old: a device
                # that fell silent keeps its last word on its clock, with its time
                "SELECT device, kind, site, offset_s, samples, updated_at\n"
                "FROM device_clock ORDER BY abs(offset_s) DESC, device LIMIT 20",
                ("device", "kind", "site", "offset_s", "samples", "updated_at"),
                kind="table", fmt="table",
            ),
        ),
    )
