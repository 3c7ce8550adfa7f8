"""What a stream processor must be: a pure step over (state, message) that returns outputs.

Processors know nothing of faust. ``streams.durable`` runs them: it keeps each key's state in a
changelogged table, skips messages already applied (by offset), and re-sends outputs whose
delivery was not confirmed before a crash. So a processor's only duties are to be
deterministic and to mutate the state it is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Output:
    topic: str
    key: str
    value: dict[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.value, separators=(",", ":"), sort_keys=True).encode()

    @property
    def id(self) -> str:
        return f"{self.topic}|{self.key}|{self.encode().decode()}"


class Processor(Protocol):
    name: str
    source: str

    def step(self, key: str, state: dict[str, Any], raw: bytes) -> list[Output]:
        """Apply one message to ``state`` (in place) and return what to publish."""
