"""Where alert transitions go: routes (the rule file's ``routes``) match labels and name
receivers, and say how transitions are grouped into one message.

The first route whose ``match`` labels all equal the transition's takes it; a route without
``match`` takes everything (put it last). Without routes, one route sends every transition to
every configured receiver. Transitions of one route with the same values of its ``group_by``
labels travel together: the first waits ``group_wait`` for company, a group already notified
waits ``group_interval`` before its next message, and a firing alert nobody acknowledged is
sent again after ``repeat_interval``.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from fjsense.rulefile import operator_rule_file, parse_rule_text, seconds
from fjsense.settings import Settings
from fjsense.yamlfile import YamlDoc
from sinks.mute import MuteTime

MESSENGERS = ("dingtalk", "wecom", "feishu")  # receivers named after their setting's prefix
BROADCAST = "broadcast"  # the coast's broadcast points (sinks/broadcast.py)


class Route(BaseModel):
    """Which alerts go to which receivers, and how they are grouped and repeated (as
    Alertmanager's routes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    match: dict[str, str] = {}
    receivers: tuple[str, ...]
    group_by: tuple[str, ...] = ("rule", "group_key")
    group_wait: float
    group_interval: float
    repeat_interval: float
    mute_time_intervals: tuple[str, ...] = ()  # names of the rule file's time_intervals
    templates: dict[str, str] = {}  # texts of this route's messages (sinks/templates.py)

    @field_validator("group_wait", "group_interval", "repeat_interval", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return seconds(value)

    def takes(self, labels: dict[str, str]) -> bool:
        """Whether an alert with ``labels`` matches this route."""
        return all(labels.get(k) == v for k, v in self.match.items())

    def group_of(self, event: dict[str, Any]) -> dict[str, str]:
        """The values of this route's ``group_by`` labels (rule and group_key are fields)."""
        labels = {**event["labels"], "rule": event["rule"], "group_key": event["group_key"]}
        return {k: labels.get(k, "") for k in self.group_by}


def receiver_names(settings: Settings) -> list[str]:
    """The receivers the settings configure: log and MQTT always, webhook, e-mail and the
    messengers' robots when set, and the broadcast points unless turned off."""
    alerts = settings.alerts
    names = ["log", "mqtt"]
    if alerts.webhook_url:
        names.append("webhook")
    if alerts.smtp_host and alerts.email_to:
        names.append("email")
    names += [name for name in MESSENGERS if getattr(alerts, f"{name}_url") is not None]
    if settings.broadcast.enabled:
        names.append(BROADCAST)
    return names


def shipped_routes(settings: Settings) -> YamlDoc:
    """The platform's routes (``fjsense/rules.yaml``), for an operator without routes."""
    text = resources.files("fjsense").joinpath("rules.yaml").read_text(encoding="utf-8")
    return parse_rule_text(text, "platform routes (rules.yaml)", settings)


def load_mute_times(settings: Settings, doc: YamlDoc | None = None) -> dict[str, MuteTime]:
    """The rule file's ``time_intervals`` by name, checked."""
    doc = doc or operator_rule_file(settings) or YamlDoc.parse("routes: []", "(no rule file)")
    found: dict[str, MuteTime] = {}
    for n, item in enumerate(doc.data.get("time_intervals") or []):
        try:
            mute = MuteTime.model_validate(item)
        except ValidationError as exc:
            raise doc.invalid(["time_intervals", n], exc) from None
        if mute.name in found:
            raise doc.error(["time_intervals", n, "name"], f"{mute.name!r} is named twice")
        found[mute.name] = mute
    return found


def load_routes(settings: Settings, doc: YamlDoc | None = None) -> list[Route]:
    """The operator's routes (``doc``, default: the ``alerts.rules_file``), checked: each
    receiver must be configured and each mute time named in ``time_intervals``; ``all`` names
    every configured receiver but the broadcast points. Without any, the platform's shipped
    routes: the coast's warnings to every receiver and the broadcast points, the rest to every
    receiver."""
    doc = doc or operator_rule_file(settings) or YamlDoc.parse("routes: []", "(no rule file)")
    mutes = load_mute_times(settings, doc)
    shipped = not doc.data.get("routes")
    if shipped:
        doc = shipped_routes(settings)
    alerts = settings.alerts
    defaults = {"group_wait": alerts.group_wait_seconds,
                "group_interval": alerts.group_interval_seconds,
                "repeat_interval": alerts.repeat_interval_seconds}
    configured = receiver_names(settings)
    people = [name for name in configured if name != BROADCAST]  # what ``all`` names
    routes = []
    for n, item in enumerate(doc.data["routes"]):
        if not isinstance(item, dict):
            raise doc.error(["routes", n], "a route is a mapping")
        if isinstance(item.get("receivers"), list):
            named = [r for r in item["receivers"]  # the shipped routes do without points
                     if r != BROADCAST or settings.broadcast.enabled or not shipped]
            item = {**item, "receivers": [x for r in named for x in (people if r == "all" else
                                                                      [r])]}
        try:
            route = Route.model_validate({"name": f"route-{n}", **defaults, **item})
        except ValidationError as exc:
            raise doc.invalid(["routes", n], exc) from None
        missing = [r for r in route.receivers if r not in configured]
        if missing:
            raise doc.error(["routes", n, "receivers"], f"receiver {missing[0]!r} is not "
                            f"configured; configured: {', '.join(configured)}")
        unknown = [m for m in route.mute_time_intervals if m not in mutes]
        if unknown:
            raise doc.error(["routes", n, "mute_time_intervals"], f"no time interval "
                            f"{unknown[0]!r}; time_intervals: {', '.join(mutes) or 'none'}")
        routes.append(route)
    return routes


def route_of(routes: list[Route], labels: dict[str, str]) -> Route | None:
    """The first route that takes ``labels``, as Alertmanager chooses one."""
    return next((r for r in routes if r.takes(labels)), None)


