"""Buoy processors: QARTOD QC of every raw value (→ ``buoy_observations``, and the passing
values with ecology for alert rules), then the hourly seawater quality class per station."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.buoy.ecology import (
    CLASSED,
    LABELS,
    bloom_risk,
    do_saturation_pct,
    quality_class,
    salinity_from_conductivity,
)
from kinds.buoy.kind import (
    CHECKED,
    KIND,
    OBSERVATIONS,
    QUALITY,
    BuoyReading,
    BuoySettings,
    BuoyStation,
    CheckedReading,
    Observation,
    QualityHour,
)
from streams.contract import Batch, Output
from streams.qartod import FAIL, PASS, SUSPECT, VariableState, check
from streams.qartod_config import VariableQc
from streams.silence import Heard
from streams.state import KeyState, ModelState

CARRIED = tuple(n for n in CheckedReading.model_fields
                if n not in ("site", "device", "seq", "ts", "bloom_risk", "qc_flags"))


def stations(catalog: Catalog) -> dict[str, BuoyStation]:
    return {s.id: s.spec if isinstance(s.spec, BuoyStation) else BuoyStation()
            for s in catalog.sites_of(KIND.name)}


class Baseline(KeyState):
    """A device's running bloom baselines: exponential means over ``bloom_baseline_days``."""

    chl: float | None = None
    ph: float | None = None
    at: float | None = None  # event time of the last reading taken in


class DeviceQc(KeyState):
    """What QC remembers of one buoy: each variable's QARTOD state, its bloom baselines."""

    variables: dict[str, VariableState] = Field(default_factory=dict)
    baseline: Baseline = Field(default_factory=Baseline)


class StationQc(KeyState):
    """A station's QC state (the Kafka key): per device."""

    devices: dict[str, DeviceQc] = Field(default_factory=dict)


class BuoyQcProcessor(ModelState[StationQc]):
    """Per station (the Kafka key) and device: QC state per variable, ecology baselines."""

    name = "buoy-qc"
    source = KIND.raw_topic
    state_model = StationQc

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: BuoySettings = KIND.section(settings)
        # each station's thresholds, worked out once: its own, at its own interval
        self.thresholds = {sid: station.thresholds(self.config.qc)
                           for sid, station in stations(catalog).items()}
        self.fallback = BuoyStation().thresholds(self.config.qc)

    def step(self, state: StationQc, batch: Batch) -> list[Output]:
        qc = self.thresholds.get(batch.key, self.fallback)
        out: list[Output] = []
        for reading in batch.items:
            out += self._reading(state.devices.setdefault(reading.device, DeviceQc()), batch,
                                 qc, reading)
        return out

    def _reading(self, st: DeviceQc, batch: Batch, qc: dict[str, VariableQc],
                 reading: BuoyReading) -> list[Output]:
        at = reading.ts.timestamp()
        future = at > batch.timestamp + self.config.max_future_seconds
        out: list[Output] = []
        passed: dict[str, float] = {}
        flags: dict[str, int] = {}
        for name, value in reading.values().items():
            verdict = check(qc[name], None, st.variables.setdefault(name, VariableState()), at, value,
                            self.config.max_gap_seconds, future)
            flags[name] = verdict.flag
            if verdict.passed and value is not None:
                passed[name] = value
            out.append(Output(OBSERVATIONS.topic, batch.key, Observation(
                station=batch.key, device=reading.device, seq=reading.seq, ts=reading.ts,
                variable=name, value=value, qc=verdict.flag, tests=",".join(verdict.tests))))
        checked = {n: passed.get(n) for n in CARRIED}
        measured = passed.get("do_sat_pct")
        checked["do_sat_pct"] = measured if measured is not None else self._saturation(passed)
        if checked["do_sat_pct"] is not None and "do_sat_pct" not in flags:
            flags["do_sat_pct"] = flags["do_mg_l"]
        out.append(Output(CHECKED.topic, batch.key, CheckedReading(
            site=batch.key, device=reading.device, seq=reading.seq, ts=reading.ts,
            bloom_risk=self._bloom(st.baseline, at, checked),
            qc_flags=flags, **checked)))
        return out

    @staticmethod
    def _saturation(passed: dict[str, float]) -> float | None:
        do, temp = passed.get("do_mg_l"), passed.get("water_temp_c")
        salinity = passed.get("salinity_psu")
        if salinity is None and temp is not None and "conductivity_ms_cm" in passed:
            salinity = salinity_from_conductivity(passed["conductivity_ms_cm"], temp)
        if do is None or temp is None or salinity is None:
            return None
        return round(do_saturation_pct(do, temp, salinity), 2)

    def _bloom(self, base: Baseline, at: float, values: dict[str, Any]) -> float | None:
        """The risk score against the station's running baselines (exponential means over
        ``bloom_baseline_days``), which then take this reading in."""
        chl, ph = values.get("chl_ug_l"), values.get("ph")
        if chl is None:
            return None
        c = self.config
        risk = None
        if base.chl is not None:
            risk = round(bloom_risk(chl, base.chl, values.get("do_sat_pct"), ph,
                                    base.ph, c.bloom_chl_ratio, c.bloom_do_sat_pct,
                                    c.bloom_ph_rise), 3)
        since = at if base.at is None else base.at
        weight = 1 - math.exp(-max(at - since, 0) / (c.bloom_baseline_days * 86400))
        base.chl = chl if base.chl is None else base.chl + weight * (chl - base.chl)
        if ph is not None:
            base.ph = ph if base.ph is None else base.ph + weight * (ph - base.ph)
        base.at = at
        return risk


HOUR = 3600.0
FLAGGED = (SUSPECT, FAIL)


class HourSums(KeyState):
    """One hour of a station's classed values: sum and count of the passing ones per
    variable, and how many were QC flagged (those are not in the means)."""

    sums: dict[str, tuple[float, int]] = Field(default_factory=dict)
    flagged: int = 0


class StationHours(Heard):
    """A station's open hours (by start, epoch s) and how far its hours are final."""

    station: str = ""
    hours: dict[int, HourSums] = Field(default_factory=dict)
    final: float | None = None  # hours starting before it are final
    max_at: float | None = None  # the station's newest reading (event time)
    late: int = 0  # readings that came for a final hour


class QualityProcessor(ModelState[StationHours]):
    """Hourly GB 3097 class per station from the hour's passing values (their means), with
    ``qc`` 3 when some of its classed values were flagged (a stuck DO sensor's one passing
    value must not class the hour unnoticed). An hour is final once the station's readings
    are ``lateness`` past its end; later values of it are counted in ``late`` and left out."""

    name = "buoy-quality"
    source = CHECKED.topic
    state_model = StationHours
    lateness = 600.0

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: BuoySettings = KIND.section(settings)
        self.stations = stations(catalog)
        self.places = {s.id: (s.lat, s.lon) for s in catalog.sites_of(KIND.name)}
        self.silence = KIND.common(settings).close_after_silence_seconds

    def due(self, state: StationHours, wall: float) -> bool:
        return bool(state.hours) and state.silent(wall, self.silence)

    def tick(self, state: StationHours, wall: float) -> list[Output]:
        """The station fell silent: every hour it holds is final now, judged on what came."""
        if not self.due(state, wall):
            return []
        state.final = max(state.hours) + HOUR
        out = []
        for start in sorted(state.hours):
            hour = self._hour(state.station, start, state.hours.pop(start))
            if hour is not None:
                out.append(Output(QUALITY.topic, state.station, hour))
        return out

    def step(self, state: StationHours, batch: Batch) -> list[Output]:
        state.hear(batch.timestamp)
        state.station = batch.key
        hours = state.hours
        for reading in batch.items:
            at = reading.ts.timestamp()
            start = int(math.floor(at / HOUR) * HOUR)
            if state.final is not None and start < state.final:
                state.late += 1
                continue
            sums = hours.setdefault(start, HourSums())
            for name in CLASSED:
                value = getattr(reading, name)
                if reading.qc_flags.get(name) in FLAGGED:
                    sums.flagged += 1
                if value is not None:
                    total, count = sums.sums.get(name, (0.0, 0))
                    sums.sums[name] = (total + value, count + 1)
            state.max_at = at if state.max_at is None else max(state.max_at, at)
        out: list[Output] = []
        for start in sorted(hours):
            if state.max_at is None or start + HOUR + self.lateness > state.max_at:
                break
            state.final = start + HOUR
            hour = self._hour(batch.key, start, hours.pop(start))
            if hour is not None:
                out.append(Output(QUALITY.topic, batch.key, hour))
        return out

    def _hour(self, station: str, start: float, hour: HourSums) -> QualityHour | None:
        sums = hour.sums
        means = {n: round(total / count, 4) for n, (total, count) in sums.items()}
        found = quality_class(means, self.config.gb3097)
        if found is None:
            return None
        cls, limiting = found
        target = self.stations.get(station, BuoyStation()).target_class
        return QualityHour(
            station=station, hour=datetime.fromtimestamp(start, UTC),
            lat=self.places.get(station, (0.0, 0.0))[0], lon=self.places.get(station, (0.0, 0.0))[1],
            quality_class=cls,
            class_label=LABELS[cls - 1], limiting=limiting, target_class=target,
            class_excess=cls - target, samples=int(max(c for _, c in sums.values())),
            qc=SUSPECT if hour.flagged else PASS,
            **{n: means.get(n) for n in CLASSED})
