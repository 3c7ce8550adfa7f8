"""Buoy processors: QARTOD QC of every raw value (→ ``buoy_observations``, and the passing
values with ecology for alert rules), then the hourly seawater quality class per station."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

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
from streams.qartod import FAIL, PASS, SUSPECT, check
from streams.qartod_config import VariableQc
from streams.silence import heard, silent

CARRIED = tuple(n for n in CheckedReading.model_fields
                if n not in ("site", "device", "seq", "ts", "bloom_risk", "qc_flags"))


def stations(catalog: Catalog) -> dict[str, BuoyStation]:
    return {s.id: s.spec if isinstance(s.spec, BuoyStation) else BuoyStation()
            for s in catalog.sites_of(KIND.name)}


class BuoyQcProcessor:
    """Per station (the Kafka key) and device: QC state per variable, ecology baselines."""

    name = "buoy-qc"
    source = KIND.raw_topic

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: BuoySettings = KIND.section(settings)
        # each station's thresholds, worked out once: its own, at its own interval
        self.thresholds = {sid: station.thresholds(self.config.qc)
                           for sid, station in stations(catalog).items()}
        self.fallback = BuoyStation().thresholds(self.config.qc)

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        qc = self.thresholds.get(batch.key, self.fallback)
        out: list[Output] = []
        for reading in batch.items:
            out += self._reading(state.setdefault(reading.device, {}), batch, qc, reading)
        return out

    def _reading(self, st: dict[str, Any], batch: Batch, qc: dict[str, VariableQc],
                 reading: BuoyReading) -> list[Output]:
        at = reading.ts.timestamp()
        future = at > batch.timestamp + self.config.max_future_seconds
        out: list[Output] = []
        passed: dict[str, float] = {}
        flags: dict[str, int] = {}
        for name, value in reading.values().items():
            verdict = check(qc[name], None, st.setdefault(name, {}), at, value,
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
            bloom_risk=self._bloom(st.setdefault("baseline", {}), at, checked),
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

    def _bloom(self, base: dict[str, Any], at: float, values: dict[str, Any]) -> float | None:
        """The risk score against the station's running baselines (exponential means over
        ``bloom_baseline_days``), which then take this reading in."""
        chl, ph = values.get("chl_ug_l"), values.get("ph")
        if chl is None:
            return None
        c = self.config
        risk = None
        if "chl" in base:
            risk = round(bloom_risk(chl, base["chl"], values.get("do_sat_pct"), ph,
                                    base.get("ph"), c.bloom_chl_ratio, c.bloom_do_sat_pct,
                                    c.bloom_ph_rise), 3)
        weight = 1 - math.exp(-max(at - base.get("at", at), 0) / (c.bloom_baseline_days * 86400))
        base["chl"] = base["chl"] + weight * (chl - base["chl"]) if "chl" in base else chl
        if ph is not None:
            base["ph"] = base["ph"] + weight * (ph - base["ph"]) if "ph" in base else ph
        base["at"] = at
        return risk


HOUR = 3600.0
FLAGGED = (SUSPECT, FAIL)
FLAGGED_KEY = "flagged"  # in an hour's sums: classed values QC flagged (not in the means)


class QualityProcessor:
    """Hourly GB 3097 class per station from the hour's passing values (their means), with
    ``qc`` 3 when some of its classed values were flagged (a stuck DO sensor's one passing
    value must not class the hour unnoticed). An hour is final once the station's readings are ``lateness`` past its end; later values of it are
    counted in ``late`` and left out."""

    name = "buoy-quality"
    source = CHECKED.topic
    lateness = 600.0

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: BuoySettings = KIND.section(settings)
        self.stations = stations(catalog)
        self.places = {s.id: (s.lat, s.lon) for s in catalog.sites_of(KIND.name)}
        self.silence = KIND.common(settings).close_after_silence_seconds

    def due(self, state: dict[str, Any], wall: float) -> bool:
        return bool(state.get("hours")) and silent(state, wall, self.silence)

    def tick(self, state: dict[str, Any], wall: float) -> list[Output]:
        """The station fell silent: every hour it holds is final now, judged on what came."""
        if not self.due(state, wall):
            return []
        hours, station = state["hours"], state["station"]
        state["final"] = max(float(k) for k in hours) + HOUR
        out = []
        for start in sorted(hours, key=int):
            hour = self._hour(station, float(start), hours.pop(start))
            if hour is not None:
                out.append(Output(QUALITY.topic, station, hour))
        return out

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        heard(state, batch.timestamp)
        state["station"] = batch.key
        hours: dict[str, dict[str, list[float]]] = state.setdefault("hours", {})
        for reading in batch.items:
            at = reading.ts.timestamp()
            start = math.floor(at / HOUR) * HOUR
            if start < state.get("final", -math.inf):
                state["late"] = state.get("late", 0) + 1
                continue
            sums = hours.setdefault(str(int(start)), {})
            for name in CLASSED:
                value = getattr(reading, name)
                if reading.qc_flags.get(name) in FLAGGED:
                    sums.setdefault(FLAGGED_KEY, [0.0, 0])[1] += 1
                if value is not None:
                    total = sums.setdefault(name, [0.0, 0])
                    total[0] += value
                    total[1] += 1
            state["max_at"] = max(state.get("max_at", -math.inf), at)
        out: list[Output] = []
        for key in sorted(hours, key=int):
            start = float(key)
            if start + HOUR + self.lateness > state["max_at"]:
                break
            state["final"] = start + HOUR
            hour = self._hour(batch.key, start, hours.pop(key))
            if hour is not None:
                out.append(Output(QUALITY.topic, batch.key, hour))
        return out

    def _hour(self, station: str, start: float, sums: dict[str, list[float]]) -> QualityHour | None:
        flagged = sums.pop(FLAGGED_KEY, [0.0, 0])[1]
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
            qc=SUSPECT if flagged else PASS,
            **{n: means.get(n) for n in CLASSED})
