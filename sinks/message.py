"""One grouped notification for one receiver, and what a receiver must do with it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Message:
    """One grouped notification for one receiver."""

    id: str  # idempotency key
    receiver: str
    route: str
    reason: str  # new: transitions; repeat: still firing, not acknowledged
    group_labels: dict[str, str]
    events: list[dict[str, Any]]
    lang: str = "en"
    texts: dict[str, str] = field(default_factory=dict)  # by field (sinks/templates.py)
    target: str | None = None  # a broadcast's point

    @property
    def status(self) -> str:
        """Firing while any alert of the group is, judged by its latest transition here (a
        backlog may bring an alert's firing and its resolution in one message)."""
        latest = {(e["rule"], e["group_key"]): e["state"]
                  for e in sorted(self.events, key=lambda e: e["at"])}
        return "firing" if "firing" in latest.values() else "resolved"

    def body(self) -> bytes:
        """The notification as JSON: every transition, and its ``text`` in its ``lang``."""
        return json.dumps({"id": self.id, "receiver": self.receiver, "route": self.route,
                           "status": self.status, "reason": self.reason,
                           "group_labels": self.group_labels, "alerts": self.events,
                           "lang": self.lang, "text": self.texts.get("text", "")},
                          sort_keys=True, default=str).encode()


COLOURS = ("blue", "yellow", "orange", "red")  # China's warning colours, mildest first
SEVERITY_COLOURS = {"info": "blue", "warning": "yellow", "critical": "red"}


def colour_of(event: dict[str, Any]) -> str:
    """An alert's warning colour: its ``colour`` label, else its severity where that is a
    colour (the tide and wave rules), else info blue, warning yellow, critical red."""
    labels = event.get("labels") or {}
    if labels.get("colour") in COLOURS:
        return str(labels["colour"])
    severity = event["severity"]
    return severity if severity in COLOURS else SEVERITY_COLOURS.get(severity, "yellow")


class Receiver(Protocol):
    """Where notifications go; ``send`` raises on failure so the notifier retries."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message``; raise if it did not go out."""
