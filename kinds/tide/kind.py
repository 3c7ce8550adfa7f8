"""Tide stations: water levels against the astronomical tide (harmonic prediction), storm
surge, tidal high waters, and the four warning tide levels of each station (GB/T 17839).

A station's levels are in its own datum (chart datum or the 1985 national height datum), as
declared in the catalog with its warning levels. ``fjsense tides fit`` analyses the stored,
QC-passed history into constituents (``tide_fits``, ``tide_constituents``, versioned); the
stream predicts each reading's astronomical tide from the station's current version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fjsense.sensorkind import (
    LiveView,
    Migration,
    Reading,
    Record,
    SensorKind,
    Stream,
    Table,
    Timescale,
    raw_table,
)
from streams.qartod_config import VariableQc, qc_per_hour

COLOURS = ("none", "blue", "yellow", "orange", "red")  # index = warning level 0-4
IMPOSSIBLE_M = 100.0  # |level| above this, in any datum, is no water level


class TideReading(Reading):
    """One gauge reading, as published on ``fj/tide/{station}/{device}``."""

    level_m: Annotated[float, Field(allow_inf_nan=False,
                                    description="water level above the station's datum")]

    def physical_problem(self, device: object) -> str | None:
        if abs(self.level_m) > IMPOSSIBLE_M:
            return f"level_m {self.level_m} m is impossible (beyond ±{IMPOSSIBLE_M} m of a datum)"
        return None


class WarningLevels(BaseModel):
    """A station's four warning tide levels, in its datum (set by the marine forecast office)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blue: float
    yellow: float
    orange: float
    red: float

    @model_validator(mode="after")
    def _rising(self) -> WarningLevels:
        if not self.blue < self.yellow < self.orange < self.red:
            raise ValueError("warning levels rise: blue < yellow < orange < red")
        return self

    def ordered(self) -> tuple[float, float, float, float]:
        return (self.blue, self.yellow, self.orange, self.red)

    def reached(self, level: float) -> int:
        """0 below blue, else 1-4: the highest level ``level`` has reached."""
        return sum(level >= limit for limit in self.ordered())


class TideStation(BaseModel):
    """Catalog fields of a tide station."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    datum: Literal["chart datum", "1985 national height datum"] = Field(
        description="what its levels (readings and warning levels) are measured from")
    warning_levels: WarningLevels
    interval_seconds: float = Field(600, gt=0, description="How often its gauges report")
    qc: VariableQc | None = Field(None, description="its own level QC; unset: tide.qc")


# Level QC. Sensor span: a gauge's range about its datum. The spike test follows the tide's
# own swing (trend reference): at 10-minute sampling the tide departs from a straight line by
# under 2 cm even at Xiamen (M2 ≈ 2 m), at hourly sampling by under 8 cm at Honolulu, so 0.3 m
# is no tide; a stuck float or a frozen logger repeats a value to the millimetre for hours,
# which no tide does (QARTOD water-level manual: spike, rate of change, flat line).
DEFAULT_LEVEL_QC = qc_per_hour(sensor=(-10.0, 20.0), spike=(0.3, 0.6), rate_per_hour=2.0,
                               flat_hours=(3, 6), flat_tolerance=0.002,
                               spike_reference="trend")


class TideSettings(BaseModel):
    """Tide QC, fitting and warning thresholds; each default's source in its description."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qc: VariableQc = DEFAULT_LEVEL_QC
    max_gap_seconds: float = Field(
        3 * 3600, gt=0, description="After a longer gap the spike and rate tests restart")
    max_future_seconds: float = Field(
        300, ge=0, description="QARTOD timing: a reading stamped further ahead of the clock fails")
    surge_alert_m: float = Field(
        1.0, gt=0, description="Surge (observed - predicted) above: alert. Typhoon surges on "
        "the Fujian coast reach 1-2.5 m; 1 m is a major one (Fujian storm surge bulletins)")
    surge_clear_m: float = Field(0.6, ge=0, description="Surge below: the surge alert resolves")
    early_warning_seconds: float = Field(
        3600, gt=0, description="Early warning: the rising level will reach a warning level "
        "within this long at its current rate")
    rate_window_seconds: float = Field(
        1800, gt=0, description="The level's current rate: least squares over this span")
    high_water_margin_m: float = Field(
        0.1, gt=0, description="A peak is a high water once the level has fallen this far "
        "below it (and a trough a low water once it has risen this far): above gauge noise")
    model_refresh_seconds: float = Field(
        30, gt=0, description="How often the stream looks for a station's new constituents")
    rayleigh_min: float = Field(
        1.0, gt=0, description="Rayleigh criterion: constituents resolved by the span fitted "
        "(UTide's default)")
    fit_trend: bool = Field(
        True, description="Fit a linear trend with the mean (UTide's default); predictions "
        "carry it on")
    fit_min_days: float = Field(
        15.0, gt=0, description="Shortest span fitted: M2 and S2 part after 14.8 days")
    predict_ahead_days: float = Field(
        7.0, ge=0, description="After a fit, predictions are stored this far ahead (panels)")
    predict_step_minutes: int = Field(10, gt=0, description="Step of stored predictions")


class TideObservation(Record):
    """A reading after QC, with its astronomical tide, surge and warning level: what is stored
    in ``tide_observations`` and what the alert rules judge (a flagged level is not judged)."""

    station: str
    device: str
    seq: int
    ts: AwareDatetime
    level_m: float
    predicted_m: float | None = Field(description="astronomical tide from the constituents "
                                      "current when processed; None while the station has none")
    surge_m: float | None = Field(description="level_m - predicted_m")
    qc: int = Field(description="QARTOD flag of the level: 1 pass, 3 suspect, 4 fail")
    tests: str = Field(description="comma-separated tests that flagged it, '' if none")
    fit_version: int | None = Field(description="the constituents' version predicted with")
    warning_level: int = Field(description="0-4: the highest warning level the level reached")
    warning: str = Field(description="none, blue, yellow, orange or red")
    rate_m_per_h: float | None = Field(description="the level's rate over the rate window")
    early_warning_level: int = Field(
        description="0-4: the highest warning level above it that the rising level reaches "
        "within the early-warning horizon at its current rate")


class HighWater(Record):
    """A tidal high water: the peak level between two low waters, known once the level fell
    ``high_water_margin_m`` below it."""

    station: str
    device: str
    ts: AwareDatetime
    level_m: float
    predicted_m: float | None
    surge_m: float | None
    warning_level: int
    warning: str = Field(description="the colour of the highest warning level reached")
    fit_version: int | None


class TideFit(Record):
    """One harmonic analysis of a station's history: version, span, fit quality, model."""

    station: str
    version: int
    fitted_at: AwareDatetime
    span_from: AwareDatetime
    span_to: AwareDatetime
    samples: int = Field(description="QC-passed values fitted")
    constituents: int
    mean_m: float
    slope_m_per_day: float
    residual_rms_m: float = Field(description="RMS of the fit's own residual")
    model: str = Field(description="the UTide coefficients as JSON: what prediction uses")


class TideConstituent(Record):
    """One constituent of a fit, with its 95% confidence interval."""

    station: str
    version: int
    name: str
    frequency_cph: float
    amplitude_m: float
    amplitude_ci_m: float
    phase_deg: float = Field(description="Greenwich phase lag")
    phase_ci_deg: float
    snr: float
    pe: float = Field(description="percent of the tidal energy")


class TidePrediction(Record):
    """The astronomical tide at a time, from a station's newest fit (for panels)."""

    station: str
    ts: AwareDatetime
    predicted_m: float
    version: int


READINGS = raw_table("tide_readings", TideReading, Timescale(segment_by="device",
                                                             compress_after="30 days"))
OBSERVATIONS = Stream("fj.derived.tide", TideObservation, Table(
    "tide_observations", TideObservation, key=("station", "device", "ts"), time_column="ts",
    index=("station", "ts DESC"),
    timescale=Timescale(chunk="7 days", segment_by="station", compress_after="30 days")))
HIGH_WATERS = Stream("fj.derived.tide_high_water", HighWater, Table(
    "tide_high_waters", HighWater, key=("station", "ts"), time_column="ts",
    index=("station", "ts DESC"), timescale=Timescale(chunk="90 days")))
FITS = Table("tide_fits", TideFit, key=("station", "version"), time_column="fitted_at",
             timescale=Timescale(hypertable=False))
CONSTITUENTS = Table("tide_constituents", TideConstituent, key=("station", "version", "name"),
                     time_column="version", timescale=Timescale(hypertable=False))
PREDICTIONS = Table("tide_predictions", TidePrediction, key=("station", "ts"),
                    time_column="ts", timescale=Timescale(chunk="30 days"))


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def processors() -> tuple[Callable[..., Any], ...]:
    from kinds.tide.processor import TideProcessor

    return (TideProcessor,)


def dashboards() -> tuple[Callable[..., Any], ...]:
    from kinds.tide.dashboard import tide_dashboard

    return (tide_dashboard,)


def ocean_map() -> Callable[..., str]:
    from kinds.tide.dashboard import tide_map_layer

    return tide_map_layer


def simulator() -> type:
    from kinds.tide.simulator import TideSimulator

    return TideSimulator


def commands() -> tuple[Callable[..., Any], ...]:
    from kinds.tide.commands import add_parser

    return (add_parser,)


def recordings() -> tuple[Callable[..., Any], ...]:
    from kinds.tide.sea_level_files import read_coops, read_coops_json, read_uhslc, read_uhslc_fast

    # the JSON first (it is one line), the CO-OPS CSV last (its header is the loosest)
    return (read_coops_json, read_uhslc, read_uhslc_fast, read_coops)


def report() -> tuple[Callable[..., Any], ...]:
    from kinds.tide.report import tides_section

    return (tides_section,)


def demo_setup() -> Callable[..., str]:
    from kinds.tide.commands import fit_demo_history

    return fit_demo_history


KIND = SensorKind(
    name="tide",
    reading=TideReading,
    table=READINGS,
    site_fields=TideStation,
    derived=(OBSERVATIONS, HIGH_WATERS),
    settings_section="tide",
    settings_model=TideSettings,
    migrations=(Migration("0001_tables", tables=(
        READINGS, OBSERVATIONS.table, HIGH_WATERS.table, FITS, CONSTITUENTS,  # type: ignore[arg-type]
        PREDICTIONS)),),
    processors=processors,
    dashboards=dashboards,
    ocean_map=ocean_map,
    simulator=simulator,
    commands=commands,
    recordings=recordings,
    recording_formats="UHSLC hourly sea level (days since 1700, or the fast-delivery CSV "
    "year,month,day,hour,mm), NOAA CO-OPS water levels (CSV or the JSON API's)",
    demo_setup=demo_setup,
    report=report,
    rules=Path(__file__).with_name("rules.yaml"),
    live_view=LiveView(
        "water level, astronomical tide and surge per tide station (latest reading)",
        "SELECT o.station, o.ts, o.level_m, o.predicted_m, o.surge_m, o.warning,\n"
        "       COALESCE(today.worst, 'none')\n"
        "FROM (SELECT DISTINCT ON (station) * FROM tide_observations\n"
        "      ORDER BY station, ts DESC) o\n"
        "LEFT JOIN LATERAL (SELECT (ARRAY['none','blue','yellow','orange','red'])\n"
        "                          [max(warning_level) + 1] AS worst\n"
        "                   FROM tide_observations t WHERE t.station = o.station\n"
        "                     AND t.ts >= date_trunc('day', o.ts) AND t.qc = 1) today ON true\n"
        "ORDER BY o.station",
        ("station", "time", "level m", "predicted m", "surge m", "warning", "worst today"),
    ),
    # tide gauge records reach back to the 19th century (Brest 1846, Honolulu 1905), and
    # harmonic analysis uses them
    earliest_ts=datetime(1800, 1, 1, tzinfo=UTC),
    close_after_silence_seconds=3600,
)
