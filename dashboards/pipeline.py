"""The pipeline-health dashboard: throughput per stage, dead letters, lag and latency."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel


def pipeline_dashboard() -> Dashboard:
    return Dashboard(
        uid="fjsense-pipeline",
        title="fjsense pipeline health",
        panels=(
            Panel(
                "Messages per stage",
                "SELECT $__timeGroupAlias(ingest_ts, $__interval), 'bridge: readings in' AS metric,"
                " count(*) AS value\n"
                "FROM power_readings WHERE $__timeFilter(ingest_ts) GROUP BY 1\n"
                "UNION ALL\n"
                "SELECT $__timeGroupAlias(stored_at, $__interval), 'sink: readings stored',"
                " count(*)\n"
                "FROM power_readings WHERE $__timeFilter(stored_at) GROUP BY 1\n"
                "UNION ALL\n"
                "SELECT $__timeGroupAlias(stored_at, $__interval), 'worker: PUE windows', count(*)\n"
                "FROM pue_windows WHERE $__timeFilter(stored_at) GROUP BY 1\n"
                "ORDER BY 1",
                ("time", "metric", "value"), width=24,
            ),
            Panel(
                "Ingest → stored latency",
                "SELECT $__timeGroupAlias(stored_at, $__interval),\n"
                "  percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - ingest_ts))"
                " AS p50,\n"
                "  percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - ingest_ts))"
                " AS p99\n"
                "FROM power_readings WHERE $__timeFilter(stored_at) GROUP BY 1 ORDER BY 1",
                ("time", "p50", "p99"), unit="s",
            ),
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
        ),
    )
