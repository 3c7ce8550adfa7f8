"""Platform streams shared by every kind: dead letters, alert transitions, device clocks and
the broadcast points' delivery state (typed records).

Each kind's own raw and derived streams are declared by the kind (``fjsense.registry``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import AwareDatetime, Field

from fjsense.deadletter import DEAD_LETTER_COLUMNS, DeadLetter, dead_letter_row
from fjsense.sensorkind import Record, SensorKind, Stream, Table

DEADLETTER = "fj.deadletter"
ALERTS = "fj.alerts"
ALERT_SAMPLES = "fj.alerts.samples"
DEVICE_CLOCK = "fj.device_clock"
BROADCAST_STATUS = "fj.broadcast.status"


class AlertEvent(Record):
    """One transition of one alert rule for one group (a device, site or region): pending,
    firing, resolved or cancelled. ``inhibited`` says why it must not be notified (stale
    station, failing QC), else null."""

    rule: str
    group_key: str
    group_by: str
    state: str
    at: AwareDatetime
    value: float | None
    threshold: float | None
    severity: str
    labels: dict[str, str]
    summary: str
    annotations: dict[str, str] = Field(default_factory=dict)  # formatted; ``name``: the group
    inhibited: str | None
    notify: bool
    site: str | None
    region: str | None


class AlertSample(Record):
    """What a rule judges of one record, re-keyed by its group where that is not the source's
    key (a region); for a roll-up, whether ``member`` (a station) fires."""

    rule: str
    group_key: str
    site: str | None
    at: AwareDatetime
    value: float | str | None
    qc: int | None = None
    member: str | None = None


class DeviceClock(Record):
    """One device's clock as the bridge estimates it (``ingest/clocks.py``): ``offset_s`` is
    its clock minus true time (the bridge's; positive: it runs ahead), from ``samples``
    messages of the window."""

    device: str
    kind: str
    site: str
    offset_s: float
    samples: int
    updated_at: AwareDatetime


class BroadcastStatus(Record):
    """One broadcast point's deliveries as the notifier sees them (``sinks/broadcast.py``),
    every ``broadcast.report_seconds``: ``unacked_s`` is how long its oldest broadcast of a
    still firing alert has waited for an acknowledgement (0: none waits). ``device`` and
    ``site`` are the point's id, so rules group by it."""

    device: str
    site: str
    district: str
    ts: AwareDatetime
    unacked_s: float
    waiting: int  # broadcasts of firing alerts not acknowledged
    sent: int  # broadcasts to it in the last day, repeats counted once
    acked: int  # of them acknowledged


def alert_event_row(item: dict[str, Any]) -> tuple[Any, ...]:
    """An ``alert_events`` row: labels and annotations as JSON text (the columns are jsonb)."""
    return tuple(json.dumps(item.get(c) or {}) if c in ("labels", "annotations") else item.get(c)
                 for c in AlertEvent.model_fields)


PLATFORM_STREAMS = (
    Stream(DEADLETTER, DeadLetter, Table("dead_letters", DeadLetter, ("received_at",),
                                         "received_at", names=DEAD_LETTER_COLUMNS),
           row=dead_letter_row),
    Stream(ALERTS, AlertEvent, Table("alert_events", AlertEvent,
                                     ("rule", "group_key", "state", "at"), "at"),
           row=alert_event_row),
    Stream(ALERT_SAMPLES, AlertSample),
    # the latest estimate per device replaces the one before (made by SQL: 0005_device_clock)
    Stream(DEVICE_CLOCK, DeviceClock, Table("device_clock", DeviceClock, ("device",),
                                            "updated_at", upsert=True)),
    # each point's latest state replaces the one before (made by SQL: 0007_broadcast)
    Stream(BROADCAST_STATUS, BroadcastStatus, Table("broadcast_status", BroadcastStatus,
                                                    ("device",), "ts", upsert=True)),
)


def all_streams(kinds: dict[str, SensorKind]) -> dict[str, Stream]:
    """Every stream of the platform by topic: each kind's, then the platform's own."""
    found = {s.topic: s for kind in kinds.values() for s in kind.streams}
    found.update((s.topic, s) for s in PLATFORM_STREAMS)
    return found


def topic_names(kinds: dict[str, SensorKind]) -> list[str]:
    """Every topic the platform uses: ``ensure_topics`` makes them before any component starts."""
    return list(all_streams(kinds))
