"""Readers of recorded instrument files, detected from their content, for ``fjsense replay``.

Each reader turns a file into rows of one sensor kind: the row's line number, its event time
(UTC) and its values by wire name, missing values left out (never stored as numbers). A line
that cannot be read is reported with its number and the reason; the others go on. Buoys:
NDBC stdmet and ocean (here); tide gauges: UHSLC and NOAA CO-OPS files (``sea_level_files``).
Times are read in each format's native form and, wherever a time is one field, in ISO 8601
too (``2005-09-01T01:00:00Z``, ``…+08:00``; without an offset a time is UTC, as the formats'
own are).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from simulators.ndbc_files import read_ndbc
from simulators.recorded import Recording, Row
from simulators.sea_level_files import read_coops, read_coops_json, read_uhslc, read_uhslc_fast

Reader = Callable[[list[str]], Recording | None]
KNOWN = ("NDBC stdmet or ocean, UHSLC hourly sea level (days since 1700, or the fast-delivery "
         "CSV year,month,day,hour,mm), NOAA CO-OPS water levels (CSV or the JSON API's)")
SHOWN_PROBLEMS = 5  # lines of problems shown; the rest are counted


# the first that recognises a file reads it (each knows its own header or first line)
READERS: tuple[Reader, ...] = (read_ndbc, read_coops_json, read_uhslc, read_uhslc_fast,
                               read_coops)


def read_recording(path: Path) -> Recording:
    """The file's rows, by the first reader that recognises it; ValueError if none does, or if
    no row of it can be read (a file of nothing but problems publishes nothing, loudly)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for reader in READERS:
        found = reader(lines)
        if found is None:
            continue
        if not any(row.values for row in found.rows):
            raise ValueError(f"{path}: {found.format}, but no row could be read: "
                             f"{summary(found.problems) or 'no data rows'}")
        return found
    raise ValueError(f"{path}: not a format replay knows ({KNOWN}); first line: "
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
