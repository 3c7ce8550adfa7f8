"""Which sequence numbers of a device a processor has counted, kept as ranges: a device's
readings mostly come in order, so its state stays one or two ranges however many it sends."""

from __future__ import annotations

import bisect

# sorted [first seq, last seq, newest event time in the range]; a seq stays an int: HJ 212's
# QN (e.g. 20261205230000009) is beyond a float's exact integers, and as a float it would
# make the packet before it look seen
Ranges = list[list[int | float]]


def _first(r: list[int | float]) -> int:
    return int(r[0])


def seen(ranges: Ranges, seq: int) -> bool:
    """Whether ``seq`` lies in one of the ``ranges`` already taken (sorted, merged runs of
    sequence numbers): a repeat is recognised in log time, and the runs stay few."""
    n = bisect.bisect_right(ranges, seq, key=_first) - 1
    return n >= 0 and ranges[n][0] <= seq <= ranges[n][1]


def add(ranges: Ranges, seq: int, at: float) -> None:
    """Count ``seq`` (not yet seen), stamped ``at``, merging it into its neighbours."""
    n = bisect.bisect_right(ranges, seq, key=_first)
    before = ranges[n - 1] if n > 0 and ranges[n - 1][1] == seq - 1 else None
    after = ranges[n] if n < len(ranges) and ranges[n][0] == seq + 1 else None
    if before is not None and after is not None:
        before[1], before[2] = after[1], max(before[2], after[2], at)
        del ranges[n]
    elif before is not None:
        before[1], before[2] = seq, max(before[2], at)
    elif after is not None:
        after[0], after[2] = seq, max(after[2], at)
    else:
        ranges.insert(n, [seq, seq, at])


def forget(ranges: Ranges, before: float) -> Ranges:
    """The ranges whose newest reading is at or after ``before`` (older ones are late anyway)."""
    return [r for r in ranges if r[2] >= before]
