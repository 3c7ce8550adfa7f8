"""What every kind's simulator shares about a run: where it starts, and the episodes (a
hypoxia, a discharge, a fault) that happen over a share of it."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def aligned_start(now: datetime, duration: timedelta, interval: timedelta) -> datetime:
    """A start that ends the run at ``now``, on a whole interval."""
    start = (now - duration).timestamp()
    step = interval.total_seconds()
    return datetime.fromtimestamp(start // step * step, UTC)


@dataclass(frozen=True)
class Episode:
    """An event at one station over a share of the run (``start``, ``end`` in 0-1)."""

    station: str
    start: float
    end: float
    strength: float = 1.0

    def weight(self, share: float) -> float:
        """0 outside, rising to 1 and back inside (a smooth bump)."""
        if not self.start <= share <= self.end:
            return 0.0
        return math.sin(math.pi * (share - self.start) / (self.end - self.start)) ** 2


def episode(text: str) -> Episode:
    """``STATION[:START-END]`` (shares of the run, default 0.3-0.7)."""
    station, _, span = text.partition(":")
    start, _, end = (span or "0.3-0.7").partition("-")
    try:
        found = Episode(station, float(start), float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not STATION[:START-END]: {text!r}") from None
    if not 0 <= found.start < found.end <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 ≤ START < END ≤ 1")
    return found
