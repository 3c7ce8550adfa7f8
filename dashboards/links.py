"""Where an alert sends people: the dashboard panel that draws its rule's metric, as a Grafana
link (``/d/{uid}?viewPanel={id}``), at the station and around the time of the alert.

A rule's panel is the first panel of the dashboards whose SQL reads the rule's table and names
its metric; without one, the first that reads its table; without that (a roll-up, a platform
rule), the alerts dashboard's "Firing now".
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboards.build import platform_dashboards
from dashboards.grafana import Dashboard, Panel
from fjsense.registry import registry
from fjsense.rules import RuleSet
from fjsense.settings import Settings

STATION_VARIABLES = ("site", "station")  # dashboard variables whose values are station ids
BEFORE, AFTER = timedelta(hours=6), timedelta(hours=1)  # the time range a link opens on


@dataclass(frozen=True)
class PanelLink:
    """One panel of one dashboard, and the dashboard's station variable if it has one."""

    uid: str
    panel_id: int
    variable: str | None

    def url(self, base: str, site: str | None, at: datetime) -> str:
        """The panel viewed alone, on ``site`` where the dashboard picks stations, from six
        hours before ``at`` to one after."""
        query: dict[str, str | int] = {"viewPanel": self.panel_id,
                 "from": int((at - BEFORE).timestamp() * 1000),
                 "to": int((at + AFTER).timestamp() * 1000)}
        if site and self.variable:
            query[f"var-{self.variable}"] = site
        return f"{base.rstrip('/')}/d/{self.uid}?{urllib.parse.urlencode(query)}"


def _words(sql: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql))


def _station_variable(board: Dashboard) -> str | None:
    """The dashboard's variable that takes a station id, if it has one."""
    return next((v.name for v in board.variables if v.name in STATION_VARIABLES), None)


def _first(boards: list[Dashboard], *names: str | None) -> PanelLink | None:
    """The first panel whose SQL names every one of ``names``."""
    wanted = {n for n in names if n}
    for board in boards:
        for number, panel in enumerate(board.panels, start=1):
            if isinstance(panel, Panel) and wanted <= _words(panel.sql):
                return PanelLink(board.uid, number, _station_variable(board))
    return None


def panel_links(settings: Settings, rules: RuleSet) -> dict[str, PanelLink]:
    """Each rule's panel, by rule name: on its kind's dashboards (the platform's for a
    platform stream), the first that draws its metric from its table, else its metric, else
    its table, else the first panel."""
    kinds = registry(settings.plugins)
    boards_of = {kind.name: [board(settings) for board in kind.load("dashboards")]
                 for kind in kinds.values()}
    kind_of = {s.topic: kind.name for kind in kinds.values() for s in kind.streams}
    platform = platform_dashboards(settings)
    links = {}
    for rule in rules.rules:
        stream = rules.streams.get(rule.source)
        table = stream.table.name if stream is not None and stream.table is not None else None
        boards = boards_of.get(kind_of.get(rule.source, "")) or platform
        links[rule.name] = (
            (_first(boards, table, rule.metric) if table and rule.metric else None)
            or (_first(boards, rule.metric) if rule.metric else None)
            or (_first(boards, table) if table else None)
            or PanelLink(boards[0].uid, 1, _station_variable(boards[0])))
    return links
