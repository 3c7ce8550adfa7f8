"""A simulated device message, in the order a simulator means to publish it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimMessage:
    at: float  # simulated event time, epoch seconds
    topic: str
    payload: bytes
    device: str
    seq: int
    valid: bool = True
