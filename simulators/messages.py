"""A simulated device message, in the order a simulator means to publish it, and grouping of
a device's readings into JSON arrays (as a logger or gateway sends them)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class SimMessage:
    """One message a simulated device sends, with the readings it carries so that tests can
    count losses and duplicates."""

    at: float  # simulated event time, epoch seconds (of the last reading it carries)
    topic: str
    payload: bytes
    device: str
    seqs: tuple[int, ...]  # the readings it carries (none for a malformed message)
    valid: bool = True
    # a kind's component that takes it over TCP instead of MQTT (a gateway: the device's
    # protocol is not MQTT); ``topic`` is then unused, and an empty payload hangs up
    via: str | None = None


def arrays(messages: Iterable[SimMessage], smallest: int, largest: int,
           seed: int = 0, max_span: float = math.inf) -> Iterator[SimMessage]:
    """Group each device's consecutive valid messages of one topic into arrays of ``smallest``–``largest``
    readings, spanning at most ``max_span`` seconds of event time (a logger sends what it
    holds, not an hour of a buoy's readings at once); malformed messages go alone, so they
    never spoil a good array."""
    rnd = random.Random(seed)
    held: dict[str, list[SimMessage]] = {}  # by topic: a cell's KPIs and MRs go apart
    size: dict[str, int] = {}

    def array(parts: list[SimMessage]) -> SimMessage:
        body = b"[" + b",".join(p.payload for p in parts) + b"]"
        last = parts[-1]
        return SimMessage(last.at, last.topic, body, last.device,
                          tuple(s for p in parts for s in p.seqs))

    for msg in messages:
        if not msg.valid or msg.via is not None:  # a gateway's packets go one by one
            yield msg
            continue
        parts = held.setdefault(msg.topic, [])
        if parts and msg.at - parts[0].at > max_span:
            yield array(parts)
            parts = held[msg.topic] = []
        parts.append(msg)
        if len(parts) >= size.setdefault(msg.topic, rnd.randint(smallest, largest)):
            yield array(parts)
            held[msg.topic] = []
            size[msg.topic] = rnd.randint(smallest, largest)
    for parts in held.values():
        if parts:
            yield array(parts)
