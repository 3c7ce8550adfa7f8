"""The alert engine in the stream: rules judged per group, in event time, on records and on a
timer.

Every kind's streams are keyed by site, so rules grouped by device or site are judged where the
records arrive (``SourceAlerts``, one processor per watched stream, state under the site key).
Rules grouped by region (and roll-ups by region or district) are not: their samples are re-keyed by area onto
``fj.alerts.samples`` and judged there (``RegionAlerts``), as are roll-ups of station alerts
("3 of 7 buoys in Minjiang estuary hypoxic"). Each transition is one record on ``fj.alerts``.

Time passes without data: ``tick`` judges every group at the stream's watermark, the newest
event time seen, which moves on with the wall clock while the stream is live (its newest event
time within ``alerts.live_within_seconds`` of now) and stands still for a replay of the past.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from fjsense.catalog import Catalog, Site
from fjsense.health import Health
from fjsense.registry import registry
from fjsense.rules import (
    AREAS,
    Rule,
    RuleError,
    RuleSet,
    format_annotation,
    in_scope,
    limit_for,
    load_rules,
)
from fjsense.settings import Settings
from fjsense.topics import ALERT_SAMPLES, ALERTS, AlertEvent, AlertSample
from streams.contract import Batch, Output
from streams.lifecycle import GroupState, Limits, Transition, observe, tick

log = logging.getLogger(__name__)
AlertState = dict[str, dict[str, GroupState]]  # rule → group → its state


class EventClock:
    """A stream's watermark: its newest event time, moved on by the wall clock while live."""

    def __init__(self, live_within: float) -> None:
        self.live_within = live_within
        self.newest = -math.inf
        self.seen_at = 0.0  # wall time when ``newest`` came

    def saw(self, at: float, wall: float) -> None:
        """Note an event time seen at wall time ``wall``."""
        if at > self.newest:
            self.newest, self.seen_at = at, wall

    def watermark(self, wall: float) -> float | None:
        """How far event time has come: the newest seen, moved on by the wall clock while live;
        None before any."""
        if self.newest == -math.inf:
            return None
        if wall - self.newest <= self.live_within:
            return self.newest + max(wall - self.seen_at, 0.0)
        return self.newest


class _Engine:
    """What both processors share: limits per site, and transitions made into records."""

    def __init__(self, rules: list[Rule], catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.use(rules)
        self.clock = EventClock(settings.alerts.live_within_seconds)
        self.regions = {r.id: r.name for r in catalog.regions}
        self.districts = {d.id: d.name for r in catalog.regions for d in r.districts}

    def use(self, rules: list[Rule]) -> None:
        """Judge by ``rules`` from now on (a reload keeps the state of rules kept)."""
        self.rules = {r.name: r for r in rules}
        self._ordered = list(self.rules.values())
        self._by_station: dict[str, list[int]] = defaultdict(list)
        self._broad: list[int] = []  # rules not named by station: judged against each site
        for n, rule in enumerate(self._ordered):
            if rule.kind != "rollup" and rule.scope.stations:
                for station in rule.scope.stations:
                    self._by_station[station].append(n)
            else:
                self._broad.append(n)
        self._scoped: dict[str | None, list[Rule]] = {}

    def rules_for(self, site_id: str | None) -> list[Rule]:
        """The rules that watch one station, in file order, looked up once: with a thousand
        rules scoped to a few stations each, a reading meets only its own."""
        found = self._scoped.get(site_id)
        if found is None:
            site = self.site(site_id)
            candidates = sorted(self._by_station.get(site_id or "", []) + self._broad)
            found = self._scoped[site_id] = [
                rule for rule in (self._ordered[n] for n in candidates)
                if rule.kind == "rollup" or in_scope(rule, site)]
        return found

    def site(self, site_id: str | None) -> Site | None:
        if site_id is None:
            return None
        try:
            return self.catalog.site(site_id)
        except KeyError:
            return None

    def limits(self, rule: Rule, site: Site | None) -> Limits:
        if rule.kind == "rollup":
            return Limits(above=rule.min_firing - 0.5)
        return Limits(limit_for(rule.above, site), limit_for(rule.below, site),
                      limit_for(rule.clear, site))

    def events(self, rule: Rule, group: str, site: Site | None, changes: list[Transition],
               extra: dict[str, Any] | None = None) -> list[Output]:
        out = []
        region = site.region if site is not None else (group if rule.group_by == "region"
                                                       else None)
        name = (self.regions.get(group, group) if rule.group_by == "region"
                else self.districts.get(group, group) if rule.group_by == "district"
                else site.name if site is not None else group)
        for change in changes:
            value = change.value if isinstance(change.value, int | float) else None
            fields = {"rule": rule.name, "state": change.state, "group": group, "name": name,
                      "value": change.value, "threshold": change.threshold,
                      "unit": rule.annotations.get("unit", ""), **(extra or {})}
            annotations = {key: format_annotation(text, **fields)
                           for key, text in rule.annotations.items()}
            summary = format_annotation(rule.summary_template, **fields)
            out.append(Output(ALERTS, group, AlertEvent(
                rule=rule.name, group_key=group, group_by=rule.group_by, state=change.state,
                at=datetime.fromtimestamp(change.at, UTC), value=value,
                threshold=change.threshold, severity=rule.severity,
                labels={"rule": rule.name, "severity": rule.severity,
                        rule.group_by: group, **({"region": region} if region else {}),
                        **({"district": site.district} if site and site.district else {}),
                        **rule.labels},
                summary=summary, annotations={**annotations, "name": name},
                inhibited=change.inhibited,
                notify=change.state in rule.notify_on and change.inhibited is None,
                site=site.id if site is not None else None, region=region)))
        return out

    @staticmethod
    def due(state: AlertState, wall: float) -> bool:
        """Always: rules judge the watermark every tick (for, keep_firing_for, nodata)."""
        return True

    @staticmethod
    def load_state(data: dict[str, Any]) -> AlertState:
        """The typed state of a key, from its changelog entry."""
        return {rule: {group: GroupState.load(st) for group, st in groups.items()}
                for rule, groups in data.items()}

    @staticmethod
    def copy_state(state: AlertState) -> AlertState:
        """A copy to step on (the runner keeps the original should the step fail)."""
        return {rule: {group: st.copy() for group, st in groups.items()}
                for rule, groups in state.items()}

    @staticmethod
    def dump_state(state: AlertState) -> dict[str, Any]:
        """A key's state as its changelog entry keeps it (JSON)."""
        return {rule: {group: st.dump() for group, st in groups.items()}
                for rule, groups in state.items()}

    def tick_groups(self, state: AlertState, wall: float) -> list[Output]:
        """Let event time pass for every group held in ``state``."""
        for groups in state.values():
            for st in groups.values():
                if st.max_at is not None:
                    self.clock.saw(st.max_at, wall)
        watermark = self.clock.watermark(wall)
        if watermark is None:
            return []
        out: list[Output] = []
        for rule_name, groups in state.items():
            rule = self.rules.get(rule_name)
            if rule is None:
                continue  # a rule since removed from the file
            for group, st in groups.items():
                site = self.site(st.site)
                out += self.events(rule, group, site,
                                   tick(rule, st, watermark, self.limits(rule, site)))
        return out


class SourceAlerts(_Engine):
    """The rules of one source stream: judges device and site groups in place, sends region
    groups (and roll-ups of station alerts) on as samples keyed by region."""

    def __init__(self, source: str, rules: RuleSet, catalog: Catalog, settings: Settings) -> None:
        super().__init__(rules.of_source(source), catalog, settings)
        self.source = source
        self.name = f"alerts-{source}"
        self.stream = rules.streams[source]

    def reload(self, rules: RuleSet) -> None:
        """Judge by the rules of a new rule file from now on."""
        self.use(rules.of_source(self.source))

    def step(self, state: AlertState, batch: Batch) -> list[Output]:
        """Judge every record of a batch against the rules of its site."""
        out: list[Output] = []
        wall = time.time()  # when we saw it: the clock's idle time starts now
        for record in batch.items:
            site_id = getattr(record, "site", None) or batch.key
            for rule in self.rules_for(site_id):
                out += self._record(state, rule, record, site_id, wall)
        return out

    def _record(self, state: AlertState, rule: Rule, record: Any, site_id: str,
                wall: float) -> list[Output]:
        if rule.kind == "rollup":
            return self._member(rule, record)
        site = self.site(site_id)
        at = getattr(record, rule.at).timestamp()
        self.clock.saw(at, wall)
        value = getattr(record, rule.metric) if rule.metric else None
        qc = qc_of(record, rule.metric)
        if rule.group_by == "region":
            if site is None:
                return []
            return [Output(ALERT_SAMPLES, site.region, AlertSample(
                rule=rule.name, group_key=site.region, site=site_id,
                at=getattr(record, rule.at), value=value, qc=qc))]
        group = record.device if rule.group_by == "device" else site_id
        st = state.setdefault(rule.name, {}).setdefault(group, GroupState(site=site_id))
        return self.events(rule, group, site, observe(rule, st, at, value,
                                                      self.limits(rule, site), qc))

    def _member(self, rule: Rule, event: AlertEvent) -> list[Output]:
        """A station alert's transition, for the roll-up of its region or district."""
        if event.rule != rule.of or event.state == "pending":
            return []
        site = self.site(event.site)
        area = event.region if rule.group_by == "region" else (
            site.district if site is not None else None)
        if area is None:
            return []
        return [Output(ALERT_SAMPLES, area, AlertSample(
            rule=rule.name, group_key=area, site=event.site, at=event.at,
            value=1.0 if event.state == "firing" else 0.0, member=event.group_key))]

    def tick(self, state: AlertState, wall: float) -> list[Output]:
        """Let event time pass without data (for, keep_firing_for, nodata)."""
        return self.tick_groups(state, wall)


def qc_of(record: Any, metric: str | None) -> int | None:
    """The QC flag of the value a rule judges: the metric's own (a record of many variables
    flags each, ``qc_flags``), else the record's ``qc``; None when it carries none."""
    flags = getattr(record, "qc_flags", None)
    if isinstance(flags, dict):
        return flags.get(metric) if metric else None
    return getattr(record, "qc", None)


class RegionAlerts(_Engine):
    """Rules grouped by region, fed by samples keyed by region."""

    name = "alerts-regions"
    source = ALERT_SAMPLES

    def __init__(self, rules: RuleSet, catalog: Catalog, settings: Settings) -> None:
        super().__init__([], catalog, settings)
        # the kind whose stations a stream carries: a roll-up counts only those
        self.kind_of = {s.topic: k.name for k in registry(settings.plugins).values()
                        for s in k.streams}
        self.reload(rules)

    def reload(self, rules: RuleSet) -> None:
        """Judge by the rules of a new rule file from now on."""
        self.targets = {r.name: r for r in rules.rules}  # the station rules rolled up
        self.use([r for r in rules.rules if r.group_by in AREAS])

    def step(self, state: AlertState, batch: Batch) -> list[Output]:
        """Judge each sample of a region or district group (and count a roll-up's firing
        stations)."""
        out: list[Output] = []
        for sample in batch.items:
            rule = self.rules.get(sample.rule)
            if rule is None:
                continue
            at = sample.at.timestamp()
            self.clock.saw(at, time.time())
            st = state.setdefault(rule.name, {}).setdefault(sample.group_key, GroupState())
            value = sample.value
            extra: dict[str, Any] = {}
            if rule.kind == "rollup":
                st.members[sample.member] = sample.value
                value = float(sum(st.members.values()))
                extra = {"firing": int(value), "of": self._stations(rule, sample.group_key)}
            out += self.events(rule, sample.group_key, None,
                               observe(rule, st, at, value, self.limits(rule, None), sample.qc),
                               extra)
        return out

    def _stations(self, rule: Rule, area: str) -> int:
        """How many stations of the region (or district) the rolled-up rule watches."""
        target = self.targets.get(rule.of or "") or rule
        kind = self.kind_of.get(target.source)
        return sum(1 for s in self.catalog.sites
                   if getattr(s, rule.group_by) == area and in_scope(target, s)
                   and kind in (None, s.kind))

    def tick(self, state: AlertState, wall: float) -> list[Output]:
        """Let event time pass without data for every region group."""
        return self.tick_groups(state, wall)


def alert_processors(rules: RuleSet, catalog: Catalog, settings: Settings
                     ) -> list[SourceAlerts | RegionAlerts]:
    """One processor per watched stream, and one for region groups when a rule has them."""
    found: list[SourceAlerts | RegionAlerts] = [
        SourceAlerts(source, rules, catalog, settings)
        for source in dict.fromkeys(r.source for r in rules.rules)]
    if any(r.group_by in AREAS for r in rules.rules):
        found.append(RegionAlerts(rules, catalog, settings))
    return found


class RuleReloader:
    """Reads the rule file again when it changes. A file that does not pass is refused with
    its file, line and reason, and the running rules stay; one that passes replaces the rules
    of every stream already watched (a rule on a new stream waits for a worker restart)."""

    def __init__(self, settings: Settings, catalog: Catalog,
                 engines: list[SourceAlerts | RegionAlerts], health: Health | None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.engines = engines
        self.health = health
        self.path = settings.alerts.rules_file
        self.stamp = self._stamp()

    def _stamp(self) -> tuple[float, int] | None:
        try:
            info = self.path.stat() if self.path is not None else None
        except OSError:
            return None
        return (info.st_mtime, info.st_size) if info is not None else None

    def check(self) -> str | None:
        """Reload if the file changed; returns the refusal, if any."""
        stamp = self._stamp()
        if stamp == self.stamp:
            return None
        self.stamp = stamp
        try:
            rules = load_rules(self.settings, self.catalog)
        except RuleError as exc:
            log.error("rule file refused, the running rules stay: %s", exc)
            if self.health is not None:
                self.health.update(rules_error=str(exc))
            return str(exc)
        watched = {e.source for e in self.engines}
        for engine in self.engines:
            engine.reload(rules)
        for rule in rules.rules:
            if rule.source not in watched:
                log.warning("rule %s watches %s: it starts with the next worker restart",
                            rule.name, rule.source)
        log.warning("rules reloaded from %s: %d rules", rules.name, len(rules.rules))
        if self.health is not None:
            self.health.update(rules_error=None, rules=len(rules.rules))
        return None
