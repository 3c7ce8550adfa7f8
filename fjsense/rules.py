"""Alert rules: what operators write (YAML), checked on load against the kind registry and the
station catalog, with errors that name the file and the line.

A rule watches one stream of the registry (a kind's raw readings or a derived stream, or the
alert transitions themselves for a roll-up) and judges each group (device, site or region):

- ``threshold``: ``above`` or ``below`` a value, cleared past ``clear`` (hysteresis);
- ``range``: outside ``[lo, hi]``, cleared once ``clear_margin`` inside again;
- ``rate``: the metric's change per second ``above`` / ``below`` a value;
- ``match``: the metric is one of ``values`` (e.g. a water-quality class);
- ``nodata``: no record for ``expected_seconds × factor`` of event time;
- ``rollup``: at least ``min_firing`` of a region's (or a district's: adjacent) stations fire
  rule ``of``.

A threshold may come from the catalog (``{catalog: pue_target, default: 1.35}``: the site's
own field), ``${section.name}`` takes it from the settings. ``for`` and ``keep_firing_for``
are event-time durations (``300``, ``"90s"``, ``"5m"``, ``"1h"``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from fjsense.catalog import Catalog, Site
from fjsense.registry import registry
from fjsense.rulefile import parse_rule_text, read_rule_files, seconds
from fjsense.sensorkind import Stream
from fjsense.settings import Settings
from fjsense.topics import all_streams
from fjsense.yamlfile import YamlDoc, YamlError

RuleError = YamlError
STATES = ("pending", "firing", "resolved", "cancelled")
AREAS = ("region", "district")  # groups of stations, judged from samples keyed by area
Severity = Literal["info", "warning", "critical", "blue", "yellow", "orange", "red"]


class _Formatter(string.Formatter):
    """Annotation templates never fail a transition: a field that does not format is shown
    as it is."""

    def format_field(self, value: Any, format_spec: str) -> str:
        try:
            return super().format_field(value, format_spec)
        except (ValueError, TypeError):
            return "—" if value is None else str(value)

    def get_value(self, key: int | str, args: Any, kwargs: Any) -> Any:
        return kwargs.get(key, "{" + str(key) + "}") if isinstance(key, str) else "?"


_FORMAT = _Formatter()


def format_annotation(text: str, **fields: Any) -> str:
    """An annotation (``{name}``, ``{value:.2f}``…) filled from a transition's fields; a field
    it lacks or cannot format is shown as it is, never raised."""
    return _FORMAT.format(text, **fields)

class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CatalogValue(_Model):
    """A threshold taken from each site's catalog field, or ``default`` where it has none."""

    catalog: str
    default: float | None = None


Limit = float | CatalogValue


class Scope(_Model):
    """Which stations a rule watches: all of its source by default."""

    stations: tuple[str, ...] = ()
    kind: str | None = None
    region: str | None = None


class Rule(_Model):
    """One alert rule as an operator writes it: what it watches, how it judges, whom it tells."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    source: str = Field(description="topic of a registry stream, or fj.alerts for a rollup")
    kind: Literal["threshold", "range", "rate", "match", "nodata", "rollup"] = "threshold"
    metric: str | None = None
    group_by: Literal["device", "site", "region", "district"] = "site"
    at: str = Field("ts", description="the records' event-time field")
    above: Limit | None = None
    below: Limit | None = None
    clear: Limit | None = None
    lo: float | None = None
    hi: float | None = None
    clear_margin: float = Field(0.0, ge=0)
    values: tuple[str | int, ...] = ()
    expected_seconds: float | None = Field(None, gt=0)
    factor: float = Field(3.0, gt=0)
    of: str | None = Field(None, description="rollup: the station rule rolled up")
    min_firing: int = Field(1, ge=1)
    for_seconds: float = Field(0.0, alias="for")
    keep_firing_for: float = 0.0
    lateness: float = Field(0.0, description="event time a late record may still be judged in")
    stale_after: float = Field(
        300.0, description="a station silent this long when the timer moves its alert is stale: "
        "the transition is inhibited")
    severity: Severity = "warning"
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    notify_on: tuple[Literal["pending", "firing", "resolved", "cancelled"], ...] = (
        "firing", "resolved")
    scope: Scope = Scope()

    @field_validator("for_seconds", "keep_firing_for", "lateness", "stale_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return seconds(value)

    @property
    def summary_template(self) -> str:
        """The summary annotation, or a default that still says what fired and where."""
        return self.annotations.get("summary", "{rule} {state} for {name}: {value}")


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, checked, with the streams they watch."""

    rules: tuple[Rule, ...]
    streams: dict[str, Stream]
    name: str

    def of_source(self, topic: str) -> list[Rule]:
        """The rules that watch ``topic``: each source stream gets one engine with only these."""
        return [r for r in self.rules if r.source == topic]


def _check(rule: Rule, doc: YamlDoc, n: int, streams: dict[str, Stream], catalog: Catalog,
           names: set[str], by_name: dict[str, Rule]) -> None:
    """Everything a rule names must exist, and its thresholds must make sense."""
    def fail(field: str, reason: str) -> YamlError:
        return doc.error(["rules", n, field], reason)

    stream = streams.get(rule.source)
    if stream is None:
        raise fail("source", f"no stream {rule.source!r}; streams: {', '.join(sorted(streams))}")
    fields = set(stream.model.model_fields)
    if rule.kind == "rollup":
        target = by_name.get(rule.of or "")
        if target is None:
            raise fail("of", f"a rollup names the station rule it rolls up (`of`); "
                             f"{rule.of!r} is not a rule before it")
        if rule.group_by not in AREAS or target.group_by in AREAS:
            raise fail("group_by", "a rollup groups by region or district, over a rule of "
                       "stations")
        return
    if rule.at not in fields:
        raise fail("at", f"{rule.source} records have no field {rule.at!r}")
    if rule.group_by == "device" and "device" not in fields:
        raise fail("group_by", f"{rule.source} records have no device")
    if rule.group_by == "district":
        raise fail("group_by", "only a rollup groups by district")
    if rule.kind != "nodata":
        if rule.metric is None:
            raise fail("metric", f"a {rule.kind} rule names the metric it judges")
        if rule.metric not in fields:
            raise fail("metric", f"{rule.source} records have no field {rule.metric!r}; "
                                 f"fields: {', '.join(sorted(fields))}")
    if rule.kind in ("threshold", "rate"):
        if (rule.above is None) == (rule.below is None):
            raise fail("above", f"a {rule.kind} rule has exactly one of `above` and `below`")
        if isinstance(rule.clear, float) and isinstance(rule.above, float) and \
                rule.clear > rule.above:
            raise fail("clear", f"clear ({rule.clear}) is above the firing threshold "
                                f"({rule.above}): it would never clear")
        if isinstance(rule.clear, float) and isinstance(rule.below, float) and \
                rule.clear < rule.below:
            raise fail("clear", f"clear ({rule.clear}) is below the firing threshold "
                                f"({rule.below}): it would never clear")
    if rule.kind == "range" and (rule.lo is None or rule.hi is None or rule.lo >= rule.hi):
        raise fail("lo", "a range rule has `lo` below `hi`")
    if rule.kind == "match" and not rule.values:
        raise fail("values", "a match rule lists the `values` that breach")
    if rule.kind == "nodata" and rule.expected_seconds is None:
        raise fail("expected_seconds", "a nodata rule says how often a station reports")
    for name in ("above", "below", "clear"):
        limit = getattr(rule, name)
        if isinstance(limit, CatalogValue):
            _check_catalog_field(limit, catalog, fail, name)
    scope = rule.scope
    for station in scope.stations:
        try:
            catalog.site(station)
        except KeyError:
            raise fail("scope", f"no station {station!r} in the catalog") from None
    if scope.region is not None and scope.region not in {r.id for r in catalog.regions}:
        raise fail("scope", f"no region {scope.region!r} in the catalog")
    if scope.kind is not None and scope.kind not in names:
        raise fail("scope", f"no sensor kind {scope.kind!r}")


def _check_catalog_field(limit: CatalogValue, catalog: Catalog, fail: Any, name: str) -> None:
    known = {f for site in catalog.sites for f in type(site.spec).model_fields}
    if limit.catalog not in known:
        raise fail(name, f"no site in the catalog has a field {limit.catalog!r}")


def load_rules(settings: Settings, catalog: Catalog, path: Path | None = None) -> RuleSet:
    """The platform's and the kinds' shipped rules merged with the operator's file (``path``, default
    ``alerts.rules_file``), checked."""
    return rules_of(read_rule_files(settings, path), settings, catalog)


def parse_rules(text: str, name: str, settings: Settings, catalog: Catalog) -> RuleSet:
    """The rules of ``text`` alone (no shipped ones), checked."""
    return rules_of([parse_rule_text(text, name, settings)], settings, catalog)


def rules_of(docs: list[YamlDoc], settings: Settings, catalog: Catalog) -> RuleSet:
    """The rules of ``docs`` in order, checked; a later file's rule replaces an earlier
    file's rule of the same name, in its place (the operator's file is last), while one
    file naming a rule twice is refused."""
    kinds = registry(settings.plugins)
    streams = all_streams(kinds)
    by_name: dict[str, Rule] = {}
    for doc in docs:
        mine: set[str] = set()
        for n, item in enumerate(doc.data["rules"]):
            try:
                rule = Rule.model_validate(item)
            except ValidationError as exc:
                raise doc.invalid(["rules", n], exc) from None
            if rule.name in mine:
                raise doc.error(["rules", n, "name"], f"a rule named {rule.name!r} exists already")
            _check(rule, doc, n, streams, catalog, set(kinds), by_name)
            mine.add(rule.name)
            by_name[rule.name] = rule
    return RuleSet(tuple(by_name.values()), streams, docs[-1].name if docs else "no rules")


def in_scope(rule: Rule, site: Site | None) -> bool:
    """Whether ``rule`` watches ``site`` (None: a group with no site, e.g. a region)."""
    scope = rule.scope
    if site is None:
        return not (scope.stations or scope.region or scope.kind)
    if scope.stations and site.id not in scope.stations:
        return False
    if scope.region is not None and site.region != scope.region:
        return False
    return scope.kind is None or site.kind == scope.kind


def limit_for(limit: Limit | None, site: Site | None) -> float | None:
    """A threshold for one site: the rule's number, or the site's catalog field."""
    if limit is None or isinstance(limit, float):
        return limit
    value = getattr(site.spec, limit.catalog, None) if site is not None else None
    return float(value) if value is not None else limit.default


def _limit_text(limit: Limit | None) -> str:
    if isinstance(limit, CatalogValue):
        return f"the site's {limit.catalog}" + (f" (else {limit.default:g})"
                                                if limit.default is not None else "")
    return f"{limit:g}" if limit is not None else ""


def _duration_text(value: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if value >= size and value % size == 0:
            return f"{value / size:g}{unit}"
    return f"{value:g}s"


def explain(rule: Rule) -> str:
    """The rule in one line, as an operator would say it."""
    what = rule.metric or "data"
    if rule.kind == "threshold":
        op, limit = (">", rule.above) if rule.above is not None else ("<", rule.below)
        cond = f"{what} {op} {_limit_text(limit)}"
        if rule.clear is not None:
            cond += f", clear past {_limit_text(rule.clear)}"
    elif rule.kind == "rate":
        op, limit = (">", rule.above) if rule.above is not None else ("<", rule.below)
        cond = f"{what} changing {op} {_limit_text(limit)} per second"
    elif rule.kind == "range":
        cond = f"{what} outside [{rule.lo:g}, {rule.hi:g}]"
        if rule.clear_margin:
            cond += f", clear {rule.clear_margin:g} inside"
    elif rule.kind == "match":
        cond = f"{what} in {', '.join(map(str, rule.values))}"
    elif rule.kind == "nodata":
        assert rule.expected_seconds is not None
        cond = (f"no record for {_duration_text(rule.expected_seconds * rule.factor)} "
                f"({rule.factor:g} × every {_duration_text(rule.expected_seconds)})")
    else:
        cond = f"at least {rule.min_firing} stations of the {rule.group_by} firing {rule.of}"
    scope = []
    if rule.scope.stations:
        scope.append("stations " + ", ".join(rule.scope.stations))
    if rule.scope.region:
        scope.append(f"region {rule.scope.region}")
    if rule.scope.kind:
        scope.append(f"{rule.scope.kind} sites")
    line = f"{rule.name}: {rule.severity} when {cond} on {rule.source}, per {rule.group_by}"
    if scope:
        line += f" ({'; '.join(scope)})"
    if rule.for_seconds:
        line += f", for {_duration_text(rule.for_seconds)}"
    if rule.keep_firing_for:
        line += f", kept firing {_duration_text(rule.keep_firing_for)} after it clears"
    return line + f"; notifies {', '.join(rule.notify_on) or 'nothing'}"


