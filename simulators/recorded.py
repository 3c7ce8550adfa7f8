"""What every recorded-file reader makes (rows of one sensor kind, and the lines it could not
read) and how it reads a time field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Row:
    """One row of a recorded file: its line, event time and values by wire name."""

    line: int
    ts: datetime
    values: dict[str, float]


@dataclass
class Recording:
    """What a file holds: its format, the kind it feeds, rows in time order, unreadable lines."""

    format: str
    kind: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line N: reason"



def parse_time(text: str, native: str | None = None) -> datetime:
    """A time field: in the format's ``native`` strptime form, else ISO 8601 (``Z`` or an
    offset; without one, UTC), returned in UTC. ValueError names what was expected."""
    text = text.strip()
    try:
        if native is not None:
            return datetime.strptime(text, native).replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        wanted = f"in neither {native!r} nor ISO 8601" if native else "not ISO 8601"
        raise ValueError(f"time {text[:40]!r} is {wanted}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
