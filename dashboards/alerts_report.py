"""The alerts' section of the province's report: transitions by severity and rule, how fast
people acknowledged, and the notifications that failed; and the episodes kinds count."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import psycopg

from dashboards.charts import bar_chart
from dashboards.report import Period, Section
from fjsense.catalog import Catalog
from fjsense.registry import registry
from fjsense.rules import load_rules
from fjsense.settings import Settings

BY_SEVERITY = (
    "SELECT severity, count(*) FROM alert_events WHERE state = 'firing'\n"
    "  AND at >= %(start)s AND at < %(end)s GROUP BY 1 ORDER BY 2 DESC, 1")
BY_RULE = (
    "SELECT rule, count(*) FROM alert_events WHERE state = 'firing'\n"
    "  AND at >= %(start)s AND at < %(end)s GROUP BY 1 ORDER BY 2 DESC, 1")
ACKNOWLEDGED = (
    "SELECT count(*), avg(extract(epoch FROM a.acked_at - e.stored_at)) / 60\n"
    "FROM alert_acks a JOIN alert_events e ON e.rule = a.rule AND e.group_key = a.group_key\n"
    "  AND e.at = a.fired_at AND e.state = 'firing'\n"
    "WHERE e.at >= %(start)s AND e.at < %(end)s")
FAILED = (
    "SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL),\n"
    "  count(*) FILTER (WHERE delivered_at IS NULL AND last_error IS NOT NULL)\n"
    "FROM alert_notifications WHERE created_at >= %(start)s AND created_at < %(end)s")


def kind_of_rules(settings: Settings, catalog: Catalog) -> dict[str, str]:
    """Each rule's sensor kind: the kind whose stream it judges (``platform`` for the rest: a
    silent broadcast point, a device's clock, a roll-up of alerts)."""
    topics = {stream.topic: kind.name for kind in registry(settings.plugins).values()
              for stream in kind.derived}
    topics.update({kind.raw_topic: kind.name for kind in registry(settings.plugins).values()})
    return {rule.name: topics.get(rule.source, "platform")
            for rule in load_rules(settings, catalog).rules}


def alerts_section(conn: psycopg.Connection, settings: Settings, catalog: Catalog,
                   period: Period) -> Section:
    """What fired in ``period``, how fast it was acknowledged, what was not delivered."""
    span = {"start": period.start, "end": period.end}
    severities: dict[str, int] = dict(conn.execute(BY_SEVERITY, span).fetchall())
    rules: dict[str, int] = dict(conn.execute(BY_RULE, span).fetchall())
    kinds = kind_of_rules(settings, catalog)
    by_kind: Counter[str] = Counter()
    for rule, count in rules.items():  # a rule no longer in the files: "unknown"
        by_kind[kinds.get(rule, "unknown")] += count
    row = conn.execute(ACKNOWLEDGED, span).fetchone()
    acked, minutes = (row[0], row[1]) if row else (0, None)
    counts = conn.execute(FAILED, span).fetchone() or (0, 0)
    delivered, failed = counts
    met = failed == 0
    return Section(
        key="alerts", title_zh="告警", title_en="Alerts",
        verdict_zh=f"本期告警{sum(severities.values())}次，{failed}条通知未送达",
        verdict_en=f"{sum(severities.values())} alerts fired; {failed} notifications not "
                   "delivered",
        met=met, quality=f"{delivered} notifications delivered",
        figures={"firing": sum(severities.values()), "by_severity": severities,
                 "by_rule": rules, "by_kind": dict(sorted(by_kind.items())),
                 "acknowledged": acked,
                 "minutes_to_acknowledge": None if minutes is None else float(minutes),
                 "notifications_delivered": delivered, "notifications_failed": failed},
        chart=bar_chart([(rule, float(n)) for rule, n in list(rules.items())[:12]], decimals=0),
        rows=[{"severity": k, "firing": v} for k, v in severities.items()])


FIRINGS = (
    "SELECT rule, group_key, count(*) FROM alert_events WHERE state = 'firing'\n"
    "  AND at >= %(start)s AND at < %(end)s\n"
    "  AND (rule = ANY(%(rules)s) OR labels @> %(labels)s::jsonb)\n"
    "GROUP BY 1, 2 ORDER BY 1, 2")


def firings(conn: psycopg.Connection, period: Period, rules: Sequence[str] = (),
            labels: dict[str, str] | None = None) -> dict[str, dict[str, int]]:
    """Per rule, per group (a station, a point), how many times it fired in ``period``: the
    episodes a kind's section counts (hypoxia, a bloom, a tamper sign), named by rule or by a
    label all such rules carry, so an operator's own rule with that label counts too."""
    found: dict[str, dict[str, int]] = {}
    params = {"start": period.start, "end": period.end, "rules": list(rules),
              "labels": None if labels is None else json.dumps(labels)}
    for rule, group, count in conn.execute(FIRINGS, params):
        found.setdefault(rule, {})[group] = count
    return found
