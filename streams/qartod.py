"""IOOS QARTOD tests in real time, one value at a time, over a typed state per variable.

Flags (QARTOD): 1 pass, 3 suspect, 4 fail, 9 missing; a value's flag is the worst of its
tests. Real time means no look-ahead: the spike test compares a value with the median of the
three before it (robust to a spike among them, and it follows a real step after two values;
with fewer, after a gap, the latest that was no spike), or for a variable that swings
steadily (the tide) with the line through the two calm values before it,
the rate of change with the value just before (unless that one was a spike), the flat line
with how long the value has stayed within tolerance of where its run began.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from pydantic import Field

from streams.qartod_config import VariableQc
from streams.state import KeyState

PASS, SUSPECT, FAIL, MISSING = 1, 3, 4, 9
RECENT = 3  # values the spike test's median is taken over


@dataclass(frozen=True)
class Verdict:
    """A value's QARTOD flag and the tests that set it."""

    flag: int
    tests: tuple[str, ...]  # the tests that raised the flag (sorted)

    @property
    def passed(self) -> bool:
        """Whether the value may be judged (pass or not evaluated)."""
        return self.flag == PASS


Kept = tuple[float, float, bool]  # a value the spike test may compare with: time, value, spiked


class VariableState(KeyState):
    """What the tests remember of one variable of one device."""

    recent: list[Kept] = Field(default_factory=list)  # up to RECENT, within max_gap
    prev: Kept | None = None  # the value just before (rate of change)
    run: tuple[float, float] | None = None  # where the value's flat run began: time, value


def check(qc: VariableQc, climate: tuple[float, float] | None, st: VariableState, at: float,
          value: float | None, max_gap: float, future: bool = False) -> Verdict:
    """Judge ``value`` at event time ``at`` and move the variable's state ``st`` on.
    ``climate`` is the station's own usual range (None: ``qc.climate``); ``future``: the
    reading's timestamp is ahead of the clock."""
    if value is None:
        return Verdict(MISSING, ())
    raised: dict[str, int] = {}
    if future:
        raised["future"] = FAIL
    low, high = qc.sensor
    if not low <= value <= high:
        raised["gross_range"] = FAIL
    else:
        usual = climate or qc.climate
        if usual is not None and not usual[0] <= value <= usual[1]:
            raised["climatology"] = SUSPECT
    recent = [p for p in st.recent if 0 < at - p[0] <= max_gap]
    spiked = False
    if qc.spike is not None and recent:
        jump = abs(value - _reference(recent, at, qc.spike_reference))
        if jump > qc.spike[1]:
            raised["spike"] = FAIL
        elif jump > qc.spike[0]:
            raised["spike"] = SUSPECT
        spiked = "spike" in raised
    prev = st.prev
    if qc.rate_per_s is not None and prev is not None and not prev[2] and \
            0 < at - prev[0] <= max_gap and abs(value - prev[1]) / (at - prev[0]) > qc.rate_per_s:
        raised["rate_of_change"] = SUSPECT
    run = st.run
    if run is not None and abs(value - run[1]) <= qc.flat_tolerance and at >= run[0]:
        if qc.flat_s is not None:
            held = at - run[0]
            if held >= qc.flat_s[1]:
                raised["flat_line"] = FAIL
            elif held >= qc.flat_s[0]:
                raised["flat_line"] = SUSPECT
    else:
        st.run = (at, value)
    if "gross_range" not in raised and (prev is None or at > prev[0]):
        st.recent = [*recent, (at, value, spiked)][-RECENT:]
        st.prev = (at, value, spiked)
    return Verdict(max(raised.values(), default=PASS), tuple(sorted(raised)))


def _reference(recent: list[Kept], at: float, how: str) -> float:
    """What the spike test compares with. ``median``: of three, or with fewer (after a gap)
    the latest value that was no spike itself. ``trend``: the line through the latest two
    calm values, carried on to ``at`` (the latest one alone when there is no second)."""
    calm = [p for p in recent if not p[2]]
    if how == "trend":
        if len(calm) >= 2 and calm[-1][0] > calm[-2][0]:
            (t1, v1, _), (t2, v2, _) = calm[-2], calm[-1]
            return float(v2 + (v2 - v1) * (at - t2) / (t2 - t1))
        return float((calm or recent)[-1][1])
    if len(recent) >= RECENT:
        return float(statistics.median(p[1] for p in recent))
    return float(calm[-1][1] if calm else recent[-1][1])
