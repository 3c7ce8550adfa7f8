"""What a bridge must do.

A bridge takes device messages (one reading or a JSON array of readings) from a broker and
hands every reading to Kafka: a valid one to its sensor kind's raw topic (keyed by site), a
refused one (or a message that is no reading at all) to the dead-letter topic with the reason.
Readings travel in micro-batches, one Kafka record a JSON array. It acknowledges a message to
the device broker only after Kafka has confirmed every record holding its readings, so a crash
at any moment loses nothing (the broker redelivers what was not acknowledged).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass
class BridgeStats:
    """What a bridge counts: readings in, forwarded, dead-lettered and acknowledged, so a test
    can prove nothing was lost."""

    received: int = 0
    forwarded: int = 0  # readings (a message may carry many)
    dead_lettered: int = 0  # readings or whole messages
    acknowledged: int = 0


class Bridge(Protocol):
    """What a bridge must do: acknowledge a device's message only once Kafka has it."""

    stats: BridgeStats

    def run(self, stop: threading.Event) -> None:
        """Bridge until ``stop`` is set, then flush Kafka and acknowledge what it confirmed."""
