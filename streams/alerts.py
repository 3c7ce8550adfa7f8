"""The alert engine: rules over derived streams, with pending → firing → resolved states.

A rule watches one metric of one topic, per group (e.g. per site), in event time. Above the
threshold it goes *pending*; still above after ``for_seconds`` it is *firing*; it *resolves*
only below ``resolve_below`` (hysteresis). Falling back before firing *cancels* the pending
state. Each transition is one output record, never one per reading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from fjsense import topics
from fjsense.kinds import registry
from fjsense.settings import Settings
from fjsense.topics import AlertEvent, all_streams
from streams.contract import Batch, Output

States = ("pending", "firing", "resolved", "cancelled")


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    severity: str
    source: str
    metric: str
    group_by: str
    at: str
    above: float
    for_seconds: float = Field(ge=0)
    resolve_below: float
    notify_on: tuple[str, ...] = ("firing", "resolved")
    summary: str


def load_rules(settings: Settings) -> list[Rule]:
    """Read the rule file, filling ``${section.name}`` from the settings; a rule must watch a
    stream of the kind registry and name fields of its records."""
    path = settings.alerts.rules_file
    text = (
        path.read_text(encoding="utf-8") if path is not None
        else resources.files("streams").joinpath("alert_rules.yaml").read_text(encoding="utf-8")
    )

    def setting(match: re.Match[str]) -> str:
        value: Any = settings
        for part in match.group(1).split("."):
            if not hasattr(value, part):
                raise ValueError(f"alert rules name an unknown setting ${{{match.group(1)}}}")
            value = getattr(value, part)
        return str(value)

    data = yaml.safe_load(re.sub(r"\$\{([a-z_.]+)\}", setting, text))
    rules = [Rule.model_validate(r) for r in data["rules"]]
    streams = all_streams(registry(settings.plugins))
    for rule in rules:
        stream = streams.get(rule.source)
        if stream is None:
            raise ValueError(f"rule {rule.name}: no stream {rule.source!r}; streams: "
                             f"{', '.join(sorted(streams))}")
        missing = {rule.metric, rule.group_by, rule.at} - set(stream.model.model_fields)
        if missing:
            raise ValueError(f"rule {rule.name}: {rule.source} records have no "
                             f"{', '.join(sorted(missing))}")
        if rule.resolve_below > rule.above:
            raise ValueError(f"rule {rule.name}: resolve_below above the firing threshold")
        if not set(rule.notify_on) <= set(States):
            raise ValueError(f"rule {rule.name}: notify_on must name states of {States}")
    return rules


@dataclass(frozen=True)
class Transition:
    state: str
    threshold: float


def evaluate(rule: Rule, st: dict[str, Any], at: float, value: float | None) -> Transition | None:
    """Advance one rule's state for one group with the value at event time ``at``."""
    if value is None:
        return None
    current = st.get("state", "inactive")
    if current == "inactive" and value > rule.above:
        st.update(state="pending", since=at)
        return Transition("pending", rule.above)
    if current == "pending":
        if value <= rule.above:
            st.update(state="inactive", since=None)
            return Transition("cancelled", rule.above)
        if at - st["since"] >= rule.for_seconds:
            st.update(state="firing")
            return Transition("firing", rule.above)
    if current == "firing" and value < rule.resolve_below:
        st.update(state="inactive", since=None)
        return Transition("resolved", rule.resolve_below)
    return None


class AlertProcessor:
    """Evaluates every rule of one source stream (one processor per source topic)."""

    def __init__(self, source: str, rules: list[Rule]) -> None:
        self.source = source
        self.name = f"alerts-{source}"
        self.rules = [r for r in rules if r.source == source]

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        outputs = []
        for record in batch.items:
            for rule in self.rules:
                outputs += self._evaluate(rule, state, record)
        return outputs

    def _evaluate(self, rule: Rule, state: dict[str, Any], record: Any) -> list[Output]:
        group = str(getattr(record, rule.group_by))
        st = state.setdefault(f"{rule.name}|{group}", {})
        when: datetime = getattr(record, rule.at)
        at = when.timestamp()
        if st.get("last_at") is not None and at <= st["last_at"]:
            return []  # a repeat of a record already evaluated
        st["last_at"] = at
        value = getattr(record, rule.metric)
        change = evaluate(rule, st, at, value)
        if change is None:
            return []
        return [Output(topics.ALERTS, group, AlertEvent(
            rule=rule.name, site=group, state=change.state, at=when, value=value,
            threshold=change.threshold, severity=rule.severity,
            notify=change.state in rule.notify_on,
            summary=rule.summary.format(group=group, value=value, threshold=change.threshold),
        ))]


def alert_processors(rules: list[Rule]) -> list[AlertProcessor]:
    """One processor per source stream that rules watch."""
    return [AlertProcessor(source, rules) for source in dict.fromkeys(r.source for r in rules)]
