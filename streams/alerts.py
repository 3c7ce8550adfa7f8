"""The alert engine: rules over derived streams, with pending → firing → resolved states.

A rule watches one metric of one topic, per group (e.g. per site), in event time. Above the
threshold it goes *pending*; still above after ``for_seconds`` it is *firing*; it *resolves*
only below ``resolve_below`` (hysteresis). Falling back before firing *cancels* the pending
state. Each transition is one output record, never one per reading.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from fjsense import topics
from fjsense.settings import Settings
from streams.contract import Output

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
    """Read the rule file, filling ``${section.name}`` from the settings."""
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
    for rule in rules:
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
    """Evaluates every rule whose source is the PUE topic (one processor per source topic)."""

    name = "alerts"
    source = topics.PUE

    def __init__(self, rules: list[Rule]) -> None:
        self.rules = [r for r in rules if r.source == self.source]

    def step(self, key: str, state: dict[str, Any], raw: bytes) -> list[Output]:
        record = json.loads(raw)
        outputs = []
        for rule in self.rules:
            group = str(record[rule.group_by])
            st = state.setdefault(f"{rule.name}|{group}", {})
            at = datetime.fromisoformat(record[rule.at]).timestamp()
            if st.get("last_at") is not None and at <= st["last_at"]:
                continue  # a repeat of a window already evaluated
            st["last_at"] = at
            value = record.get(rule.metric)
            change = evaluate(rule, st, at, value)
            if change is None:
                continue
            outputs.append(Output(topics.ALERTS, group, {
                "rule": rule.name,
                "site": group,
                "state": change.state,
                "at": record[rule.at],
                "value": value,
                "threshold": change.threshold,
                "severity": rule.severity,
                "notify": change.state in rule.notify_on,
                "summary": rule.summary.format(group=group, value=value,
                                               threshold=change.threshold),
            }))
        return outputs
