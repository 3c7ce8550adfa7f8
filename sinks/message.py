"""One grouped notification for one receiver, and what a receiver must do with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
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

    @property
    def status(self) -> str:
        """Firing while any alert of the group is, judged by its latest transition here (a
        backlog may bring an alert's firing and its resolution in one message)."""
        latest = {(e["rule"], e["group_key"]): e["state"]
                  for e in sorted(self.events, key=lambda e: e["at"])}
        return "firing" if "firing" in latest.values() else "resolved"

    def body(self) -> bytes:
        """The notification as plain text: one line per alert."""
        return json.dumps({"id": self.id, "receiver": self.receiver, "route": self.route,
                           "status": self.status, "reason": self.reason,
                           "group_labels": self.group_labels, "alerts": self.events},
                          sort_keys=True, default=str).encode()

    def title(self) -> str:
        """A one-line subject: the status, the first alert's rule and group, and how many more."""
        first = self.events[0]
        more = f" (+{len(self.events) - 1} more)" if len(self.events) > 1 else ""
        again = " again" if self.reason == "repeat" else ""
        return f"[{self.status.upper()}{again}] {first['rule']} {first['group_key']}{more}"


class Receiver(Protocol):
    """Where notifications go; ``send`` raises on failure so the notifier retries."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message``; raise if it did not go out."""
