"""The tide processor: QC of each level (QARTOD), its astronomical tide and surge, the warning
level it reached and the one it is heading for, and the station's tidal high waters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field

from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.tide.kind import (
    COLOURS,
    HIGH_WATERS,
    KIND,
    OBSERVATIONS,
    HighWater,
    TideObservation,
    TideReading,
    TideSettings,
    TideStation,
    WarningLevels,
)
from kinds.tide.models import DatabaseModels, Models
from streams.contract import Batch, Output
from streams.qartod import VariableState, check
from streams.state import KeyState, ModelState

Point = tuple[float, float, float | None, float | None]  # time, level, predicted, surge


def early_warning(levels: WarningLevels, level: float, rate_per_s: float | None,
                  horizon: float) -> int:
    """The highest warning level above ``level`` that it reaches within ``horizon`` seconds
    at ``rate_per_s``; 0 when falling or none."""
    if rate_per_s is None or rate_per_s <= 0:
        return 0
    ahead = level + rate_per_s * horizon
    reached = [n for n, limit in enumerate(levels.ordered(), start=1) if level < limit <= ahead]
    return max(reached, default=0)


def rate(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope (per second) of (time, level) points; None with under three."""
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(p[0] for p in points) / n
    ml = sum(p[1] for p in points) / n
    var = sum((p[0] - mt) ** 2 for p in points)
    if var == 0:
        return None
    return sum((p[0] - mt) * (p[1] - ml) for p in points) / var


class HighWaterSearch(KeyState):
    """The search for the next high water: rising, falling or not known yet, with the
    highest and lowest passing values since the phase began."""

    phase: Literal["unknown", "rise", "fall"] = "unknown"
    peak: Point
    trough: Point


class GaugeState(KeyState):
    """What the processor keeps of one tide gauge (device)."""

    qc: VariableState = Field(default_factory=VariableState)
    last_at: float | None = None  # the newest passing level (event time)
    window: list[tuple[float, float]] = Field(default_factory=list)  # the rate's levels
    hw: HighWaterSearch | None = None  # None until a passing level, and after a gap


class StationGauges(KeyState):
    """A station's state (the Kafka key): per device."""

    devices: dict[str, GaugeState] = Field(default_factory=dict)


class TideProcessor(ModelState[StationGauges]):
    """Per station (the Kafka key) and device: QC state, the rate window and the high-water
    search. Predictions come from the station's current constituents (``models``)."""

    name = "tide"
    source = KIND.raw_topic
    state_model = StationGauges

    def __init__(self, settings: Settings, catalog: Catalog, models: Models | None = None) -> None:
        self.config: TideSettings = KIND.section(settings)
        self.stations = {s.id: s.spec for s in catalog.sites_of(KIND.name)
                         if isinstance(s.spec, TideStation)}
        self.models = models or DatabaseModels(settings, self.config.model_refresh_seconds)

    def step(self, state: StationGauges, batch: Batch) -> list[Output]:
        station = self.stations.get(batch.key)
        if station is None:
            raise ValueError(f"no tide station {batch.key!r} in the catalog")
        model = self.models.current(batch.key)
        predicted = (model[1].predict([r.ts.timestamp() for r in batch.items])
                     if model is not None else [None] * len(batch.items))
        out: list[Output] = []
        for reading, tide in zip(batch.items, predicted, strict=True):
            out += self._reading(state.devices.setdefault(reading.device, GaugeState()), batch,
                                 station, reading, None if tide is None else round(float(tide), 4),
                                 None if model is None else model[0])
        return out

    def _reading(self, st: GaugeState, batch: Batch, station: TideStation,
                 reading: TideReading, predicted: float | None,
                 version: int | None) -> list[Output]:
        c = self.config
        at, level = reading.ts.timestamp(), reading.level_m
        verdict = check((station.qc or c.qc).at_interval(station.interval_seconds), None, st.qc, at, level,
                        c.max_gap_seconds, at > batch.timestamp + c.max_future_seconds)
        surge = None if predicted is None else round(level - predicted, 4)
        levels = station.warning_levels
        reached = levels.reached(level)
        per_s = None
        out: list[Output] = []
        if verdict.passed and (st.last_at is None or at > st.last_at):
            if st.last_at is not None and at - st.last_at > c.max_gap_seconds:
                st.hw = None
            st.last_at = at
            window = [p for p in st.window if at - p[0] <= c.rate_window_seconds]
            st.window = [*window, (at, level)]
            per_s = rate(st.window)
            peak = self._high_water(st, (at, level, predicted, surge))
            if peak is not None:
                out.append(Output(HIGH_WATERS.topic, batch.key, HighWater(
                    station=batch.key, device=reading.device,
                    ts=datetime.fromtimestamp(peak[0], UTC), level_m=peak[1],
                    predicted_m=peak[2], surge_m=peak[3], warning_level=levels.reached(peak[1]),
                    warning=COLOURS[levels.reached(peak[1])], fit_version=version)))
        out.insert(0, Output(OBSERVATIONS.topic, batch.key, TideObservation(
            station=batch.key, device=reading.device, seq=reading.seq, ts=reading.ts,
            level_m=level, predicted_m=predicted, surge_m=surge, qc=verdict.flag,
            tests=",".join(verdict.tests), fit_version=version, warning_level=reached,
            warning=COLOURS[reached],
            rate_m_per_h=None if per_s is None else round(per_s * 3600, 4),
            early_warning_level=early_warning(levels, level, per_s, c.early_warning_seconds)
            if verdict.passed else 0)))
        return out

    def _high_water(self, st: GaugeState, point: Point) -> Point | None:
        """Move the search for the next high (rising) or low (falling) water on by one passing
        value; the peak once the level has fallen ``high_water_margin_m`` below it."""
        margin = self.config.high_water_margin_m
        hw = st.hw
        if hw is None:  # not yet known whether rising or falling: no peak is a high water yet
            st.hw = HighWaterSearch(peak=point, trough=point)
            return None
        level = point[1]
        if hw.phase != "fall" and level > hw.peak[1]:
            hw.peak = point
        if hw.phase != "rise" and level < hw.trough[1]:
            hw.trough = point
        if hw.phase != "fall" and level <= hw.peak[1] - margin:
            found = hw.peak if hw.phase == "rise" else None
            hw.phase, hw.trough = "fall", point
            return found
        if hw.phase != "rise" and level >= hw.trough[1] + margin:
            hw.phase, hw.peak = "rise", point
        return None
