"""What a stream processor must be: a pure step over (state, batch) that returns outputs.

Processors know nothing of faust. ``streams.durable`` runs them: it decodes each Kafka record
of the source stream into a ``Batch`` of typed records, keeps each key's state in a
changelogged table (written once per batch), skips batches already applied (by offset), and
re-sends outputs whose delivery was not confirmed before a crash. So a processor's only duties
are to be deterministic and to mutate the state it is given.

A processor may reject a record (an output to the dead-letter topic) or annotate it (an output
carrying the record with its QC flags on a derived stream, whose table then stores it): a
flagged value is stored with its flag, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel


@dataclass(frozen=True)
class Output:
    """A record a processor asks to publish: the runner groups, sends and confirms it."""

    topic: str
    key: str
    value: BaseModel


@dataclass(frozen=True)
class Batch:
    """The typed records of one Kafka record, its key and timestamp (epoch seconds; on raw
    topics, when the bridge received the batch's first reading)."""

    key: str
    items: list[Any]
    timestamp: float


class Processor(Protocol):
    """A pure step over (state, batch): the runner gives it exactly-once state and delivery."""

    name: str
    source: str  # the topic of a stream in the kind registry

    def step(self, state: Any, batch: Batch) -> list[Output]:
        """Apply one batch to ``state`` (in place) and return what to publish. ``state`` is
        the key's typed model when the processor is ``TypedState`` (every built-in one is),
        else the JSON dict its changelog entry keeps."""


class TypedState(Protocol):
    """A processor whose state is a typed model (``streams.state.ModelState`` gives these
    methods for a pydantic model), kept in the changelog as JSON: the runner loads it before
    a step or a tick and dumps it after, so the processor never handles string keys."""

    def load_state(self, data: dict[str, Any]) -> Any:
        """The typed state of a key, from its changelog entry: a fresh object sharing no list
        or mapping with ``data`` (the runner steps on it in place, and loads ``data`` again
        should a step fail)."""

    def dump_state(self, state: Any) -> dict[str, Any]:
        """A key's state as its changelog entry keeps it (JSON), sharing no list or mapping
        with ``state``: the table keeps the dump while the next step changes the state."""

    def copy_state(self, state: Any) -> Any:
        """A copy to step on, so that a failing step leaves the state as it was (faster
        than ``copy.deepcopy`` of typed objects)."""


class Ticking(Processor, Protocol):
    """A processor that also acts as time passes without data (e.g. alert rules)."""

    def tick(self, state: Any, wall: float) -> list[Output]:
        """Let time pass for ``state`` at wall-clock time ``wall``; return what to publish.
        The state is written only with outputs: a tick that changes it says so in one."""

    def due(self, state: Any, wall: float) -> bool:
        """Whether ``tick`` has anything to do now; read-only and cheap, for every key every
        tick (the runner writes a state only when its tick has outputs)."""
