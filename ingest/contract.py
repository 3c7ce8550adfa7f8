"""What a bridge must do.

A bridge takes device messages from a broker and hands every one of them to Kafka: a valid
reading to its sensor kind's raw topic (keyed by site), anything else to the dead-letter topic
with the reason. It acknowledges a message to the device broker only after Kafka has confirmed
it, so a crash at any moment loses nothing (the broker redelivers what was not acknowledged).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol


@dataclass
class BridgeStats:
    received: int = 0
    forwarded: int = 0  # readings (a message may carry many)
    dead_lettered: int = 0  # readings or whole messages
    acknowledged: int = 0


class Bridge(Protocol):
    stats: BridgeStats

    def run(self, stop: threading.Event) -> None:
        """Bridge until ``stop`` is set, then flush Kafka and acknowledge what it confirmed."""
