"""The alert rules again, as Grafana-managed alert rule provisioning, for deployments that
prefer Grafana alerting to the stream's engine.

Grafana evaluates on the wall clock against the tables, so only what a query can say exports:
threshold and range rules on a stream with a table, grouped by device or site, with the rule's
number (or a catalog threshold's default). Hysteresis, roll-ups, no data and region groups stay
with the stream engine, and so does ``keep_firing_for``: Grafana honours ``keepFiringFor`` in
provisioning files only from 12.1.2 (grafana/grafana #109699), and the Grafana the project
targets (``GRAFANA_VERSION``, 11.6) would ignore it, so it is not exported; a rule that keeps
firing in the stream resolves in Grafana as soon as its condition clears.
"""

from __future__ import annotations

from typing import Any

from dashboards.grafana import DATASOURCE
from fjsense.catalog import catalog_of
from fjsense.rules import CatalogValue, Limit, Rule, load_rules
from fjsense.settings import Settings

WINDOW_SECONDS = 900  # the latest value per group within the last 15 minutes


def _number(limit: Limit | None) -> float | None:
    return limit.default if isinstance(limit, CatalogValue) else limit


def _condition(rule: Rule) -> dict[str, Any] | None:
    if rule.kind == "threshold":
        above, below = _number(rule.above), _number(rule.below)
        if above is not None:
            return {"type": "gt", "params": [above]}
        if below is not None:
            return {"type": "lt", "params": [below]}
    if rule.kind == "range":
        return {"type": "outside_range", "params": [rule.lo, rule.hi]}
    return None


def grafana_rule(rule: Rule, table: str, columns: tuple[str, ...]) -> dict[str, Any] | None:
    """One Grafana alert rule, or None when the rule cannot be said as a query (the table
    must have the group's column: a buoy's hour is keyed by ``station``, not ``site``)."""
    evaluator = _condition(rule)
    group = rule.group_by
    if evaluator is None or group == "region" or rule.metric is None or group not in columns:
        return None
    sql = (f"SELECT {group} AS metric, {rule.metric} AS value FROM (\n"
           f"  SELECT DISTINCT ON ({group}) {group}, {rule.metric} FROM {table}\n"
           f"  WHERE {rule.at} > now() - interval '{WINDOW_SECONDS} seconds'"
           f" AND {rule.metric} IS NOT NULL\n"
           f"  ORDER BY {group}, {rule.at} DESC) latest")
    return {
        "uid": f"fjsense-{rule.name}"[:40], "title": rule.name, "condition": "C",
        "data": [
            {"refId": "A", "relativeTimeRange": {"from": WINDOW_SECONDS, "to": 0},
             "datasourceUid": DATASOURCE["uid"],
             "model": {"refId": "A", "rawSql": sql, "format": "table", "editorMode": "code",
                       "rawQuery": True}},
            {"refId": "C", "datasourceUid": "__expr__",
             "model": {"refId": "C", "type": "threshold", "expression": "A",
                       "conditions": [{"evaluator": evaluator}]}},
        ],
        "for": f"{int(rule.for_seconds)}s",
        "labels": {"severity": rule.severity, **rule.labels},
        "annotations": {"summary": rule.summary_template},
        "noDataState": "OK", "execErrState": "Error",
    }


def alert_provisioning(settings: Settings) -> dict[str, Any]:
    """``provisioning/alerting/fjsense.yaml``: every rule that exports."""
    rules = load_rules(settings, catalog_of(settings))
    exported = []
    for rule in rules.rules:
        table = rules.streams[rule.source].table
        if table is not None and (
                found := grafana_rule(rule, table.name, table.columns)) is not None:
            exported.append(found)
    return {"apiVersion": 1, "groups": [{"orgId": 1, "name": "fjsense", "folder": "fjsense",
                                          "interval": "1m", "rules": exported}]}
