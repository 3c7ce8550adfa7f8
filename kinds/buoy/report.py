"""The ocean buoys' part of the province's report: each buoy's hours per GB 3097 class against
its target class (hours whose classed values QC flagged are counted, and said doubtful), and the
hypoxia and bloom episodes: the times their alert rules fired, so an episode is what the rules'
hysteresis and duration make one, not every low reading."""

from __future__ import annotations

from typing import Any

import psycopg

from dashboards.alerts_report import firings
from dashboards.charts import bar_chart
from dashboards.report import Period, Section
from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.buoy.ecology import LABELS
from kinds.buoy.kind import KIND, BuoyStation

EPISODES = {"hypoxia": ("buoy-hypoxia", "buoy-hypoxia-severe"), "bloom": ("buoy-bloom-risk",)}

HOURS = (
    "SELECT station, quality_class, count(*), count(*) FILTER (WHERE qc <> 1)\n"
    "FROM buoy_quality_hourly WHERE hour >= %(start)s AND hour < %(end)s GROUP BY 1, 2")


def buoys_section(conn: psycopg.Connection, settings: Settings, catalog: Catalog,
                  period: Period) -> Section:
    """Water classes and episodes over ``period``."""
    span = {"start": period.start, "end": period.end}
    hours: dict[str, dict[int, tuple[int, int]]] = {}
    for station, quality_class, count, doubtful in conn.execute(HOURS, span):
        hours.setdefault(station, {})[quality_class] = (count, doubtful)
    fired = firings(conn, period, [rule for rules in EPISODES.values() for rule in rules])
    stations: dict[str, Any] = {}
    for site in catalog.sites_of(KIND.name):
        spec = site.spec
        assert isinstance(spec, BuoyStation)
        mine = hours.get(site.id, {})
        classed = sum(count for count, _ in mine.values())
        worse = sum(count for c, (count, _) in mine.items() if c > spec.target_class)
        stations[site.id] = {
            "name": site.name, "target_class": LABELS[spec.target_class - 1],
            "hours_by_class": {LABELS[c - 1]: mine[c][0] for c in sorted(mine)},
            "hours_classed": classed, "hours_worse_than_target": worse,
            "hours_doubtful": sum(doubtful for _, doubtful in mine.values()),
            "share_meeting_target": (classed - worse) / classed if classed else None,
            "met": None if not classed else worse == 0,
            "episodes": {name: sum(fired.get(rule, {}).get(site.id, 0) for rule in rules)
                         for name, rules in EPISODES.items()}}
    judged = [s for s in stations.values() if s["met"] is not None]
    failing = [s["name"] for s in judged if not s["met"]]
    met = None if not judged else not failing
    episodes = {name: sum(s["episodes"][name] for s in stations.values()) for name in EPISODES}
    unclassed = sum(period.hours - s["hours_classed"] for s in stations.values())
    return Section(
        key="buoys", title_zh="海洋：水质与生态", title_en="Ocean: water quality (GB 3097)",
        verdict_zh=("本期没有水质分类数据" if met is None else
                    f"{len(judged)}个浮标中{len(judged) - len(failing)}个全时段达到目标水质；"
                    f"低氧{episodes['hypoxia']}次，赤潮风险{episodes['bloom']}次"),
        verdict_en=("no water class in the period" if met is None else
                    f"{len(judged) - len(failing)} of {len(judged)} buoys met their target class "
                    f"every hour; {episodes['hypoxia']} hypoxia and {episodes['bloom']} bloom "
                    "episodes"),
        met=met,
        quality=f"{unclassed} of {len(stations) * period.hours} buoy-hours without a water "
                f"class; {sum(s['hours_doubtful'] for s in stations.values())} classed hours "
                "doubtful (QC flagged a classed value)",
        figures={"stations": stations, "episodes": episodes},
        chart=bar_chart([(s["name"][:28], s["share_meeting_target"]) for s in stations.values()],
                        target=1.0, bad_below=True, target_label="every hour at target"),
        rows=[{"buoy": s["name"], "target": s["target_class"],
               **{f"class {label}": s["hours_by_class"].get(label, 0) for label in LABELS},
               "hypoxia": s["episodes"]["hypoxia"], "bloom": s["episodes"]["bloom"]}
              for s in stations.values()])
