"""Energy-based PUE per site from cumulative meter counters (ISO/IEC 30134-2).

PUE over a window is ΔkWh(facility) / ΔkWh(IT), never an average of instantaneous ratios.
Each meter's counter is read as a piecewise-linear function of event time and interpolated at
the window boundaries (a meter's readings closer than ``min_spacing`` to a kept one are left
out, so a meter reporting many times a second cannot swell the state). Where a counter steps
down (reset, new meter) or jumps up by more than the meter's rated power allows, that
interval's energy is taken from its kW readings (trapezoid) instead.

Meters of a site report over separate connections and drift apart, so the site's watermark is
the *earliest* of its meters' latest event times; a meter silent for longer than ``idle``
behind the newest one no longer holds it back. A window is final once the watermark passes its
end by the allowed lateness; a reading older than ``watermark - lateness`` is late and does
not change final windows. A window with a missing meter, or a gap longer than
``max_gap``, gets no PUE and a reason.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import Field

from kinds.power.kind import PowerReading, PueWindow
from streams.state import KeyState

REQUIRED = ("facility", "it")


@dataclass(frozen=True)
class MeterSpec:
    device: str
    circuit: str
    rated_kw: float | None


@dataclass(frozen=True)
class PueConfig:
    window: float  # seconds
    rolling: int  # windows in the rolling value
    lateness: float  # seconds
    max_gap: float  # seconds
    idle: float  # seconds a meter may fall behind the newest before it stops holding windows
    min_spacing: float = 0.0  # seconds between a meter's kept points (bounds the state)


Point = tuple[float, int, float, float]  # event time (epoch s), seq, kwh, kw


def interval_energy(prev: Point, cur: Point, rated_kw: float | None) -> float:
    """kWh delivered between two consecutive readings of one meter."""
    hours = (cur[0] - prev[0]) / 3600.0
    delta = cur[2] - prev[2]
    if delta < 0 or (rated_kw is not None and delta > rated_kw * hours * 1.05 + 1e-9):
        return (prev[3] + cur[3]) / 2.0 * hours  # counter reset or replaced meter
    return delta


def window_energy(
    points: list[Point], start: float, end: float, rated_kw: float | None, max_gap: float
) -> float | str:
    """kWh of one meter in [start, end), or the reason it cannot be known."""
    times = [p[0] for p in points]
    left = bisect.bisect_right(times, start) - 1
    right = bisect.bisect_left(times, end)
    if left < 0:
        return "no reading at or before the window start"
    if right >= len(points):
        return "no reading at or after the window end"
    energy = 0.0
    for i in range(left + 1, right + 1):
        prev, cur = points[i - 1], points[i]
        span = cur[0] - prev[0]
        if span > max_gap:
            return f"gap of {span:.0f}s between readings"
        overlap = min(cur[0], end) - max(prev[0], start)
        if overlap > 0:
            energy += interval_energy(prev, cur, rated_kw) * overlap / span
    return energy


class SiteState(KeyState):
    """Everything the PUE computation keeps for one site (the processor's state extends it)."""

    points: dict[str, list[Point]] = Field(default_factory=dict)  # per meter, by time
    latest: dict[str, float] = Field(default_factory=dict)  # per meter: newest event time
    finalized_until: float | None = None  # windows before it are final
    recent: list[list[float] | None] = Field(default_factory=list)  # the rolling windows' kWh

    def watermark(self, idle: float) -> float | None:
        """The earliest latest-event-time among meters not idle behind the newest one."""
        if not self.latest:
            return None
        newest = max(self.latest.values())
        return min(t for t in self.latest.values() if t >= newest - idle)


@dataclass(frozen=True)
class Late:
    device: str
    seq: int
    lateness: float


class SitePue:
    """The PUE computation of one site: feed readings, collect finished windows."""

    def __init__(self, site: str, meters: list[MeterSpec], config: PueConfig) -> None:
        self.site = site
        self.meters = {m.device: m for m in meters}
        self.config = config

    def add(self, state: SiteState, reading: PowerReading) -> list[PueWindow] | Late:
        """Take one raw reading; return the windows it finalised, or why it came too late."""
        t = reading.ts.timestamp()
        device = reading.device
        watermark = state.watermark(self.config.idle)
        if watermark is not None and t < watermark - self.config.lateness:
            # too late for its windows, but the meter is alive: let it hold windows again
            state.latest[device] = max(state.latest.get(device, t), t)
            return Late(device, reading.seq, watermark - t)
        pts = state.points.setdefault(device, [])
        point: Point = (t, reading.seq, reading.kwh, reading.kw)
        i = bisect.bisect_left(pts, point[:2])
        if i < len(pts) and pts[i][:2] == point[:2]:
            return []  # the same reading again
        spacing = self.config.min_spacing
        crowded = (i > 0 and t - pts[i - 1][0] < spacing) or (
            i < len(pts) and pts[i][0] - t < spacing)
        if not crowded:  # a crowded reading adds nothing the counter does not already say
            pts.insert(i, point)
        if state.finalized_until is None:
            state.finalized_until = t // self.config.window * self.config.window
            # meters not heard from yet hold the watermark too, until they count as idle
            state.latest = {meter: t for meter in self.meters}
        state.latest[device] = max(state.latest.get(device, t), t)
        return self._finalize(state)

    @staticmethod
    def newest_reading(state: SiteState) -> float | None:
        return max((pts[-1][0] for pts in state.points.values() if pts), default=None)

    def open_windows(self, state: SiteState) -> bool:
        """Whether readings wait in windows not final yet."""
        newest = self.newest_reading(state)
        return newest is not None and state.finalized_until is not None and \
            state.finalized_until <= newest

    def close(self, state: SiteState) -> list[PueWindow]:
        """The site fell silent: every window up to the one holding its newest reading is
        final now (an incomplete one with its reason), and readings for them that come later
        are late."""
        if not self.open_windows(state):
            return []
        w = self.config.window
        end = (self.newest_reading(state) // w + 1) * w  # type: ignore[operator]
        state.latest = dict.fromkeys(state.latest, end + self.config.lateness)
        return self._finalize(state)

    def _finalize(self, state: SiteState) -> list[PueWindow]:
        watermark = state.watermark(self.config.idle)
        assert watermark is not None and state.finalized_until is not None
        w = self.config.window
        out = []
        while state.finalized_until + w <= watermark - self.config.lateness:
            start = state.finalized_until
            resume = self._next_data(state, start)
            if resume > start:  # every meter silent: no windows until readings resume
                state.finalized_until = resume
                state.recent.clear()
                continue
            out.append(self._window(state, start, start + w))
            state.finalized_until = start + w
        if out:
            self._prune(state)
        return out

    def _next_data(self, state: SiteState, start: float) -> float:
        """``start``, or the start of the window where readings resume when no meter has a
        reading within ``max_gap`` of [start, start + window) (a site silent for days must
        not emit a window per minute of its silence)."""
        w, gap = self.config.window, self.config.max_gap
        nexts = [p[0] for pts in state.points.values() for p in pts if p[0] > start - gap]
        first = min(nexts, default=start)
        if first < start + w + gap:
            return start
        return max(start, (first - gap) // w * w)

    def _window(self, state: SiteState, start: float, end: float) -> PueWindow:
        energy: dict[str, float] = {}
        missing: list[str] = []
        for circuit in {m.circuit for m in self.meters.values()}:
            total = 0.0
            for meter in (m for m in self.meters.values() if m.circuit == circuit):
                got = window_energy(
                    state.points.get(meter.device, []), start, end, meter.rated_kw,
                    self.config.max_gap,
                )
                if isinstance(got, str):
                    if circuit in REQUIRED:
                        missing.append(f"{meter.device} ({circuit}): {got}")
                    total = float("nan")
                    break
                total += got
            energy[circuit] = total
        # a site whose catalog lists no meter of a circuit PUE needs (one being fitted)
        missing += [f"no {circuit} meter in the catalog" for circuit in REQUIRED
                    if circuit not in energy]
        pue, reason = None, None
        if missing:
            reason = "; ".join(sorted(missing))
        elif energy["it"] <= 0:
            reason = "no IT energy in the window"
        else:
            pue = energy["facility"] / energy["it"]
        state.recent.append(None if pue is None else [energy["facility"], energy["it"]])
        del state.recent[: -self.config.rolling]
        complete = [r for r in state.recent if r is not None]
        rolling, rolling_reason = None, None
        if len(complete) == self.config.rolling:
            rolling = sum(r[0] for r in complete) / sum(r[1] for r in complete)
        else:
            rolling_reason = f"{len(complete)} of {self.config.rolling} windows complete"
        return PueWindow(
            site=self.site,
            window_start=_utc(start),
            window_end=_utc(end),
            facility_kwh=_finite(energy.get("facility")),
            it_kwh=_finite(energy.get("it")),
            cooling_kwh=_finite(energy.get("cooling")),
            pue=pue,
            pue_rolling=rolling,
            instant_kw_ratio=self._instant_ratio(state, end),
            reason=reason,
            rolling_reason=rolling_reason,
        )

    def _instant_ratio(self, state: SiteState, at: float) -> float | None:
        """facility kW / IT kW from the latest readings at ``at``: a snapshot, not PUE."""
        kw = {c: 0.0 for c in REQUIRED}
        for meter in self.meters.values():
            if meter.circuit not in kw:
                continue
            pts = [p for p in state.points.get(meter.device, []) if p[0] <= at]
            if not pts:
                return None
            kw[meter.circuit] += pts[-1][3]
        return kw["facility"] / kw["it"] if kw["it"] > 0 else None

    def _prune(self, state: SiteState) -> None:
        """Keep per meter the readings from the open window on, and the one just before it."""
        assert state.finalized_until is not None
        for device, pts in state.points.items():
            first_open = bisect.bisect_left([p[0] for p in pts], state.finalized_until)
            state.points[device] = pts[max(first_open - 1, 0):]


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value
