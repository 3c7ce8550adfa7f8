"""The platform's own health from its Prometheus metrics (``fjsense/metrics.py``): what
`fjsense health` shows, over time, for every replica."""

from __future__ import annotations

from dashboards.grafana import Dashboard, MetricsPanel

PLATFORM_UID = "fjsense-platform"


def platform_dashboard() -> Dashboard:
    """Readiness, throughput, lag, deliveries, firing alerts and restarts, from Prometheus."""
    return Dashboard(
        uid=PLATFORM_UID,
        title="fjsense platform (Prometheus)",
        annotations=(),
        panels=(
            MetricsPanel("Components ready", "fjsense_ready", "{{component}} {{instance}}"),
            MetricsPanel("Bridge: readings per second",
                         "sum by (instance) (rate(fjsense_bridge_forwarded_total[1m]))",
                         "forwarded {{instance}}", unit="reqps"),
            MetricsPanel("Dead letters per second",
                         "sum by (instance) (rate(fjsense_bridge_dead_lettered_total[1m]))",
                         "bridge {{instance}}", unit="reqps"),
            MetricsPanel("Sink: rows stored per second",
                         "sum by (table) (rate(fjsense_sink_rows_stored_total[1m]))",
                         "{{table}}", unit="reqps"),
            MetricsPanel("Sink lag (records)", "max by (topic) (fjsense_sink_lag_records)",
                         "{{topic}}"),
            MetricsPanel("Worker lag (records)",
                         "sum by (processor) (fjsense_worker_lag_records)", "{{processor}}"),
            MetricsPanel("Worker: records taken in per second",
                         "sum by (instance) (rate(fjsense_worker_events_total[1m]))",
                         "{{instance}}", unit="reqps"),
            MetricsPanel("Notifications delivered per minute",
                         "sum by (receiver) (increase(fjsense_notify_deliveries_total[1m]))",
                         "{{receiver}}"),
            MetricsPanel("Receivers failing", "max by (receiver) "
                         "(fjsense_notify_receiver_failing)", "{{receiver}}"),
            MetricsPanel("Alerts firing", "max by (severity) (fjsense_alerts_firing)",
                         "{{severity}}"),
            MetricsPanel("Restarts by the supervisor",
                         "sum by (name) (increase(fjsense_component_restarts_total[10m]))",
                         "{{name}}"),
        ),
    )
