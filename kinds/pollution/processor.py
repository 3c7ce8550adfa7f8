"""HJ 212 data packets (keyed by site) → each factor's row, each point's status (tamper signs,
maintenance flags) and hourly averages of the real-time data, final once the point's newest
packet is ``pollution.allowed_lateness_seconds`` past the hour's end."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.deadletter import DeadLetter
from fjsense.settings import Settings
from kinds.pollution.kind import (
    FLOW,
    HOURLY,
    HOURS,
    KIND,
    MAINTENANCE,
    NORMAL,
    STATUS,
    VALUES,
    HourlyAverage,
    PointHour,
    PointStatus,
    PollutionPoint,
    PollutionReading,
    PollutionSettings,
    PollutionValue,
)
from streams import seen
from streams.contract import Batch, Output
from streams.seen import Ranges
from streams.silence import Heard
from streams.state import KeyState, ModelState

HOUR = 3600
SIGNS = ("stuck_s", "pinned", "zero_flow")


def point_hours(hours: list[HourlyAverage]) -> list[PointHour]:
    """Each final hour of a point, all its pollutants together."""
    out = []
    for end in sorted({h.ts for h in hours}):
        these = [h for h in hours if h.ts == end]
        ratios = [(h.avg / h.limit, h.pollutant) for h in these
                  if h.valid and h.avg is not None and h.limit]
        worst = max(ratios, default=(None, None))
        out.append(PointHour(
            site=these[0].site, device=these[0].mn, ts=end, worst_ratio=worst[0],
            worst_pollutant=worst[1], exceeded=",".join(h.pollutant for h in these
                                                        if h.exceeded),
            qc=max(h.qc for h in these)))
    return out


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class FactorHour(KeyState):
    """One pollutant's real-time values in one hour of a point."""

    total: float = 0.0  # of the normal values
    samples: int = 0  # normal values (flag N or none)
    flagged: int = 0  # values under maintenance (not averaged, counted)


class PointState(Heard):
    """What the processor keeps of one monitoring point (MN)."""

    site: str = ""
    hours: dict[int, dict[str, FactorHour]] = Field(default_factory=dict)  # open, by start
    same: dict[str, tuple[float, float]] = Field(default_factory=dict)  # code: value, since
    pinned: int = 0  # real-time packets in a row with a value pinned at a limit or range edge
    seen: Ranges = Field(default_factory=list)  # packet seqs counted
    newest: float = 0.0  # the newest real-time packet (event time)
    final_before: float | None = None  # hours before it are final (closed when silent)


class SitePoints(KeyState):
    """A site's state (the Kafka key): per monitoring point."""

    points: dict[str, PointState] = Field(default_factory=dict)


class PollutionProcessor(ModelState[SitePoints]):
    """Per site (the Kafka key) and monitoring point: its rows, status and hourly averages."""

    name = "pollution"
    source = KIND.raw_topic
    state_model = SitePoints

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: PollutionSettings = KIND.section(settings)
        self.points = {d.id: d.spec for _, d in catalog.devices(KIND.name)
                       if isinstance(d.spec, PollutionPoint)}
        self.silence = KIND.common(settings).close_after_silence_seconds

    def due(self, state: SitePoints, wall: float) -> bool:
        return any(st.hours and st.silent(wall, self.silence) for st in state.points.values())

    def tick(self, state: SitePoints, wall: float) -> list[Output]:
        """A point fallen silent: every hour it holds is final now, an incomplete one judged
        as such (not valid under HJ 75), and packets for it that come later are late."""
        out: list[Output] = []
        for mn, st in state.points.items():
            if not (st.hours and st.silent(wall, self.silence)):
                continue
            st.final_before = max(st.hours) + HOUR
            hours = self._close(st, st.site, mn, self.points[mn], list(st.hours))
            out += [Output(HOURLY.topic, st.site, h) for h in hours]
            out += [Output(HOURS.topic, st.site, h) for h in point_hours(hours)]
        return out

    def step(self, state: SitePoints, batch: Batch) -> list[Output]:
        out: list[Output] = []
        late: list[dict[str, Any]] = []
        for reading in batch.items:
            point = self.points[reading.device]
            st = state.points.setdefault(reading.device, PointState())
            st.hear(batch.timestamp)
            st.site = batch.key
            if seen.seen(st.seen, reading.seq):
                continue  # a duplicate packet: counted once
            seen.add(st.seen, reading.seq, reading.ts.timestamp())
            # one that old would land in a final hour: dead-lettered as late, not averaged
            st.seen = seen.forget(st.seen, st.newest - 2 * HOUR
                                  - self.config.allowed_lateness_seconds)
            out += [Output(VALUES.topic, batch.key, v) for v in self._values(batch.key, reading)]
            out.append(Output(STATUS.topic, batch.key, self._status(st, batch.key, reading,
                                                                    point)))
            if reading.cn == "2011" and not self._add_to_hour(st, reading):
                late.append({"device": reading.device, "seq": reading.seq,
                             "ts": reading.ts.isoformat()})
            hours = self._final_hours(st, batch.key, reading, point)
            out += [Output(HOURLY.topic, batch.key, h) for h in hours]
            out += [Output(HOURS.topic, batch.key, h) for h in point_hours(hours)]
        if late:
            out.append(Output(topics.DEADLETTER, self.source, DeadLetter.of(
                "pollution", f"late: {len(late)} real-time packets of {batch.key} for hours "
                "already final (pollution.allowed_lateness_seconds): stored, not averaged",
                self.source, json.dumps(late).encode(), _moment(batch.timestamp))))
        return out

    @staticmethod
    def _values(site: str, r: PollutionReading) -> list[PollutionValue]:
        return [PollutionValue(site=site, mn=r.device, ts=r.ts, cn=r.cn, pollutant=code,
                               value=f.value, flag=f.flag, min=f.min, max=f.max)
                for code, f in sorted(r.values.items())]

    def _status(self, st: PointState, site: str, r: PollutionReading,
                point: PollutionPoint) -> PointStatus:
        at = r.ts.timestamp()
        flags = [f.flag for f in r.values.values() if f.flag in MAINTENANCE]
        same = st.same
        longest, which = 0.0, None
        pinned = False
        for code, f in r.values.items():
            if r.cn != "2011" or f.value is None or code == FLOW[point.point]:
                continue  # signs are read in the real-time data
            held = same.get(code)
            if held is None or held[0] != f.value:
                same[code] = (f.value, at)
            elif at - held[1] > longest:
                longest, which = at - held[1], code
            pinned = pinned or self._pinned(point, code, f.value)
        if r.cn == "2011":
            st.pinned = st.pinned + 1 if pinned else 0
        flow = r.values.get(FLOW[point.point])
        zero_flow = flow is not None and flow.value == 0 and any(
            (f.cou or 0) > 0 for c, f in r.values.items() if c != FLOW[point.point])
        return PointStatus(site=site, device=r.device, ts=r.ts, cn=r.cn,
                           maintenance=flags[0] if flags else None,
                           qc_flags=dict.fromkeys(SIGNS, 3) if flags else {},
                           stuck_s=longest, stuck_pollutant=which, pinned=st.pinned,
                           zero_flow=zero_flow)

    def _pinned(self, point: PollutionPoint, code: str, value: float) -> bool:
        edges = [point.limit(code), *point.ranges.get(code, ())]
        return any(e is not None and math.isclose(value, e, rel_tol=0,
                                                  abs_tol=self.config.pin_tolerance)
                   for e in edges)

    def _add_to_hour(self, st: PointState, r: PollutionReading) -> bool:
        """Add a real-time packet to its hour; False when that hour is final already."""
        begin = int(r.ts.timestamp() // HOUR * HOUR)
        if begin + HOUR + self.config.allowed_lateness_seconds <= st.newest or \
                (st.final_before is not None and begin < st.final_before):
            return False
        factors = st.hours.setdefault(begin, {})
        for code, f in r.values.items():
            acc = factors.setdefault(code, FactorHour())
            if f.value is not None and f.flag in (NORMAL, None):
                acc.total += f.value
                acc.samples += 1
            elif f.flag in MAINTENANCE:
                acc.flagged += 1
        st.newest = max(st.newest, r.ts.timestamp())
        return True

    def _final_hours(self, st: PointState, site: str, r: PollutionReading,
                     point: PollutionPoint) -> list[HourlyAverage]:
        return self._close(st, site, r.device, point, [
            h for h in st.hours if h + HOUR + self.config.allowed_lateness_seconds
            <= st.newest])

    def _close(self, st: PointState, site: str, mn: str, point: PollutionPoint,
               hours: list[int]) -> list[HourlyAverage]:
        """``hours`` of the point, final: averaged and judged, and dropped from its state."""
        expected = int(HOUR / point.interval_seconds)
        out = []
        for begin in sorted(hours):
            for code, acc in sorted(st.hours.pop(begin).items()):
                total, samples, flagged = acc.total, acc.samples, acc.flagged
                limit = point.limit(code)
                avg = total / samples if samples else None
                valid = samples >= self.config.valid_share * expected
                out.append(HourlyAverage(
                    site=site, mn=mn, hour=_moment(begin), pollutant=code, avg=avg,
                    samples=samples, expected=expected, flagged=flagged, valid=valid,
                    limit=limit, exceeded=bool(valid and limit is not None and avg is not None
                                               and avg > limit),
                    qc=3 if flagged else 1, ts=_moment(begin + HOUR)))
        return out
