"""Device clocks: how far each device's clock is off, estimated at the bridge as NTP does.

Every message's delay is its arrival (the bridge's clock) minus its newest reading's timestamp
(the device's clock): true transit and queuing, minus the device's offset. The smallest delay
over a sliding window is the one least disturbed by queuing, so ``-min(delay)`` estimates the
offset (positive: the device runs ahead). Refused readings count too: a clock far ahead is
refused as "in the future", which is exactly when it must be seen.

A replay of old records, or a device uploading what it stored while offline, also shows large
delays, but its event time runs faster than the wall clock. A window whose event time advanced
more than ``catch_up`` seconds beyond its arrival time is catching up, and no estimate is made
from it until that part has left the window. Readings keep their own timestamps: the platform
reports a wrong clock, it never corrects one.

The window is held as ``SLOTS`` slots of equal length, so a device costs constant memory and a
message constant time however often it reports.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fjsense.topics import DeviceClock

SLOTS = 12  # sub-windows of the sliding window


@dataclass
class _Slot:
    """The messages of one sub-window: how many, the smallest delay, the first and last
    (arrival, event) pair."""

    start: float
    count: int = 0
    min_delay: float = math.inf
    first: tuple[float, float] = (0.0, 0.0)
    last: tuple[float, float] = (0.0, 0.0)

    def add(self, arrival: float, event: float) -> None:
        if self.count == 0:
            self.first = (arrival, event)
        self.count += 1
        self.min_delay = min(self.min_delay, arrival - event)
        self.last = (arrival, event)


@dataclass
class _Device:
    kind: str
    site: str
    slots: deque[_Slot] = field(default_factory=deque)
    fresh: bool = False  # a message came since the last report


class ClockEstimator:
    """Per device, the smallest delay over the last ``window`` seconds of arrivals."""

    def __init__(self, window: float, min_samples: int, catch_up: float) -> None:
        self.slot_seconds = window / SLOTS
        self.window = window
        self.min_samples = min_samples
        self.catch_up = catch_up
        self.devices: dict[str, _Device] = {}

    def observe(self, device: str, kind: str, site: str, event: float, arrival: float) -> None:
        """A message of ``device`` whose newest reading is stamped ``event`` came at
        ``arrival`` (both epoch seconds)."""
        state = self.devices.get(device)
        if state is None:
            state = self.devices[device] = _Device(kind, site)
        slots = state.slots
        if not slots or arrival >= slots[-1].start + self.slot_seconds:
            slots.append(_Slot(arrival - arrival % self.slot_seconds))
            self._expire(state, arrival)
        slots[-1].add(arrival, event)
        state.fresh = True

    def _expire(self, state: _Device, now: float) -> None:
        while state.slots and state.slots[0].start + self.slot_seconds <= now - self.window:
            state.slots.popleft()

    def estimate(self, device: str, now: float) -> tuple[float, int] | None:
        """(offset in seconds, messages) of ``device`` at ``now``; None when the window holds
        too few messages or is catching up."""
        state = self.devices.get(device)
        if state is None:
            return None
        self._expire(state, now)
        slots = state.slots
        samples = sum(s.count for s in slots)
        if samples < self.min_samples:
            return None
        (first_arrival, first_event), (last_arrival, last_event) = slots[0].first, slots[-1].last
        if (last_event - first_event) - (last_arrival - first_arrival) > self.catch_up:
            return None
        return -min(s.min_delay for s in slots), samples

    def report(self, now: float) -> list[DeviceClock]:
        """An estimate for every device heard from since the last report (and estimable)."""
        out = []
        updated = datetime.fromtimestamp(now, UTC)
        for device, state in self.devices.items():
            if not state.fresh:
                continue
            state.fresh = False
            found = self.estimate(device, now)
            if found is not None:
                out.append(DeviceClock(device=device, kind=state.kind, site=state.site,
                                       offset_s=round(found[0], 3), samples=found[1],
                                       updated_at=updated))
        return out
