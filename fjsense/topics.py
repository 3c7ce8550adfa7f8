"""Platform streams shared by every kind: dead letters and alert transitions (typed records).

Each kind's own raw and derived streams are declared by the kind (``fjsense.kinds``).
"""

from __future__ import annotations

from pydantic import AwareDatetime

from fjsense.deadletter import DEAD_LETTER_COLUMNS, DeadLetter, dead_letter_row
from fjsense.kinds.base import Record, SensorKind, Stream, Table

DEADLETTER = "fj.deadletter"
ALERTS = "fj.alerts"


class AlertEvent(Record):
    """One transition of one alert rule for one group (pending, firing, resolved, cancelled)."""

    rule: str
    site: str
    state: str
    at: AwareDatetime
    value: float | None
    threshold: float
    severity: str
    summary: str
    notify: bool


PLATFORM_STREAMS = (
    Stream(DEADLETTER, DeadLetter, Table("dead_letters", DeadLetter, ("received_at",),
                                         "received_at", names=DEAD_LETTER_COLUMNS),
           row=dead_letter_row),
    Stream(ALERTS, AlertEvent, Table("alert_events", AlertEvent, ("rule", "site", "state", "at"),
                                     "at")),
)


def all_streams(kinds: dict[str, SensorKind]) -> dict[str, Stream]:
    """Every stream of the platform by topic: each kind's, then the platform's own."""
    found = {s.topic: s for kind in kinds.values() for s in kind.streams}
    found.update((s.topic, s) for s in PLATFORM_STREAMS)
    return found


def topic_names(kinds: dict[str, SensorKind]) -> list[str]:
    return list(all_streams(kinds))
