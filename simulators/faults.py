"""Fault injection on any simulator's message stream: what real device fleets do to us."""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from simulators.messages import SimMessage

MALFORMED = (
    b"{\"device\": \"",  # truncated JSON
    b"\x00\xff\xfe garbage",  # not text
    b"[]",  # no reading at all
    b"{\"device\": \"%s\", \"seq\": \"x\"}",  # wrong types, missing fields
)


def probability(text: str) -> float:
    """An argparse type: a probability, 0 to 1 (1.5 would be taken and publish nothing)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a probability between 0 and 1")
    return value


@dataclass(frozen=True)
class Faults:
    """Probabilities per message; a reordered message waits for 1..``reorder_depth`` later
    messages of its own device (so it arrives out of order for that device, whatever the
    interleaving of devices in the stream)."""

    dropout: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_depth: int = 4
    malformed: float = 0.0
    seed: int = 0

    def apply(self, messages: Iterable[SimMessage]) -> Iterator[SimMessage]:
        """The messages with drops, duplicates, reorders and malformed ones, seeded: tests count
        what the pipeline must absorb."""
        rnd = random.Random(self.seed)
        seen: dict[str, int] = {}  # messages so far, per device
        held: list[tuple[int, SimMessage]] = []
        for msg in messages:
            n = seen[msg.device] = seen.get(msg.device, 0) + 1
            out: list[SimMessage] = []
            if rnd.random() < self.malformed:
                bad = rnd.choice(MALFORMED).replace(b"%s", msg.device.encode())
                out.append(SimMessage(msg.at, msg.topic, bad, msg.device, (), valid=False))
            if rnd.random() >= self.dropout:
                if rnd.random() < self.reorder:
                    held.append((n + rnd.randint(1, self.reorder_depth), msg))
                else:
                    out.append(msg)
                if rnd.random() < self.duplicate:
                    out.append(msg)
            due = [m for when, m in held if m.device == msg.device and when <= n]
            held = [(w, m) for w, m in held if not (m.device == msg.device and w <= n)]
            yield from out + due
        yield from (m for _, m in held)
