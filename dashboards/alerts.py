"""The alerts dashboard: what fires now, the history of transitions, how fast people
acknowledge, which stations alert most, whether the receivers get their messages, and whether
the coast's broadcast points acknowledge theirs."""

from __future__ import annotations

from dashboards.grafana import Dashboard, Panel

LATEST = ("(SELECT DISTINCT ON (rule, group_key) * FROM alert_events WHERE state <> 'pending' "
          "ORDER BY rule, group_key, at DESC) latest")


def alerts_dashboard() -> Dashboard:
    """The platform's alert dashboard: what fires now, its history, failed notifications."""
    return Dashboard(
        uid="fjsense-alerts",
        title="Alerts: firing, history, acknowledgements, deliveries",
        panels=(
            Panel(
                "Firing now",
                "SELECT latest.at AS \"time\", latest.rule, latest.group_key AS \"group\",\n"
                "  latest.severity, round(latest.value::numeric, 3) AS value, latest.summary,\n"
                "  coalesce(a.acked_by, '') AS acknowledged_by,\n"
                "  coalesce(latest.inhibited, latest.silenced_by, '') AS muted\n"
                f"FROM {LATEST}\n"
                "LEFT JOIN alert_acks a ON a.rule = latest.rule AND a.group_key = latest.group_key"
                " AND a.fired_at = latest.at\n"
                "WHERE latest.state = 'firing' ORDER BY latest.at DESC",
                ("time", "rule", "group", "severity", "value", "summary", "acknowledged_by",
                 "muted"), kind="table", fmt="table", width=24),
            Panel(
                "Transitions",
                "SELECT $__timeGroupAlias(at, $__interval), state AS metric, count(*) AS value\n"
                "FROM alert_events WHERE $__timeFilter(at) GROUP BY 1, 2 ORDER BY 1",
                ("time", "metric", "value")),
            Panel(
                "Time to acknowledge (minutes)",
                "SELECT e.rule, round(avg(extract(epoch FROM a.acked_at - e.stored_at)) / 60, 1)"
                " AS minutes,\n  count(*) AS acknowledged\n"
                "FROM alert_acks a JOIN alert_events e ON e.rule = a.rule AND e.group_key ="
                " a.group_key AND e.at = a.fired_at AND e.state = 'firing'\n"
                "WHERE $__timeFilter(e.at) GROUP BY 1 ORDER BY 2 DESC",
                ("rule", "minutes", "acknowledged"), kind="table", fmt="table"),
            Panel(
                "Firing transitions per station",
                "SELECT coalesce(site, group_key) AS station, rule, count(*) AS firings\n"
                "FROM alert_events WHERE state = 'firing' AND $__timeFilter(at)\n"
                "GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 50",
                ("station", "rule", "firings"), kind="table", fmt="table"),
            Panel(
                "Deliveries per receiver",
                "SELECT receiver, count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered,"
                "\n  count(*) FILTER (WHERE delivered_at IS NULL) AS waiting,"
                " max(attempts) AS most_attempts,\n"
                "  max(last_error) FILTER (WHERE delivered_at IS NULL) AS last_error\n"
                "FROM alert_notifications WHERE $__timeFilter(created_at)\n"
                "GROUP BY 1 ORDER BY 1",
                ("receiver", "delivered", "waiting", "most_attempts", "last_error"),
                kind="table", fmt="table"),
            Panel(
                "Broadcast points: how long each has left a warning unacknowledged (a silent "
                "point first)",
                "SELECT ts AS \"time\", device AS point, district,\n"
                "  round(unacked_s::numeric) AS unacked_s, waiting, sent, acked\n"
                "FROM broadcast_status ORDER BY unacked_s DESC, sent DESC, device",
                ("time", "point", "district", "unacked_s", "waiting", "sent", "acked"),
                kind="table", fmt="table", width=24),
        ),
    )
