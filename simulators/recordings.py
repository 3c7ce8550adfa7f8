"""Readers of recorded instrument files, detected from their content, for ``fjsense replay``.

Each kind declares the readers of its instruments' files (``SensorKind.recordings``); each
turns a file into rows of that kind: the row's line number, its event time (UTC) and its
values by wire name, missing values left out (never stored as numbers). A line that cannot be
read is reported with its number and the reason; the others go on. Times are read in each
format's native form and, wherever a time is one field, in ISO 8601 too
(``2005-09-01T01:00:00Z``, ``…+08:00``; without an offset a time is UTC, as the formats' own
are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from fjsense.registry import SensorKind, registry
from simulators.recorded import Recording, Row

Reader = Callable[[list[str]], Recording | None]
SHOWN_PROBLEMS = 5  # lines of problems shown; the rest are counted


def read_recording(path: Path, kinds: dict[str, SensorKind] | None = None) -> Recording:
    """The file's rows, by the first reader of ``kinds`` (default: the built-in ones) that
    recognises it; ValueError if none does, or if no row of it can be read (a file of nothing
    but problems publishes nothing, loudly)."""
    kinds = registry() if kinds is None else kinds
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    readers: list[Reader] = [r for kind in kinds.values() for r in kind.load("recordings")]
    for reader in readers:
        found = reader(lines)
        if found is None:
            continue
        if not any(row.values for row in found.rows):
            raise ValueError(f"{path}: {found.format}, but no row could be read: "
                             f"{summary(found.problems) or 'no data rows'}")
        return found
    known = "; ".join(f"{k.name}: {k.recording_formats}" for k in kinds.values()
                      if k.recording_formats)
    raise ValueError(f"{path}: not a format replay knows ({known}); first line: "
                     f"{lines[0][:80] if lines else '(empty file)'!r}")


def summary(problems: list[str]) -> str:
    """Problems in one line: how many, and the first few."""
    if not problems:
        return ""
    more = len(problems) - SHOWN_PROBLEMS
    return (f"{len(problems)} line{'s' if len(problems) != 1 else ''} not read: "
            + "; ".join(problems[:SHOWN_PROBLEMS]) + (f"; and {more} more" if more > 0 else ""))


def rows_of(recording: Recording) -> Iterator[Row]:
    """Rows that carry at least one value."""
    return (row for row in recording.rows if row.values)
