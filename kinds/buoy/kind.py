"""Ocean buoys: water quality, waves and weather, quality-controlled in the stream (IOOS
QARTOD) and judged against the seawater quality classes of GB 3097-1997.

A reading carries any subset of the wire variables below. Values that cannot be (a negative
wave height, a pH of 15) are refused at ingest; values that can be but are doubtful are
stored with a QARTOD flag in ``buoy_observations``, one row per variable.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

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
from streams.qartod_config import VariableQc, check_overrides, overridden, qc_per_hour

# Wire name: (unit, impossible below, impossible above). The bounds are physics, not sensor
# spans: what lies between them is judged by QC, not refused.
VARIABLES: dict[str, tuple[str, float, float]] = {
    "water_temp_c": ("°C", -80.0, 100.0),
    "salinity_psu": ("psu", 0.0, 70.0),
    "conductivity_ms_cm": ("mS/cm", 0.0, 100.0),
    "do_mg_l": ("mg/L", 0.0, 50.0),
    "do_sat_pct": ("%", 0.0, 500.0),
    "ph": ("pH", 0.0, 14.0),
    "chl_ug_l": ("µg/L", 0.0, 1000.0),
    "turbidity_ntu": ("NTU", 0.0, 10000.0),
    "depth_m": ("m", -10.0, 11000.0),
    "redox_mv": ("mV", -2000.0, 2000.0),
    "wave_height_m": ("m", 0.0, 40.0),
    "wave_period_s": ("s", 0.0, 60.0),
    "wave_dir_deg": ("°", 0.0, 360.0),
    "wind_speed_m_s": ("m/s", 0.0, 150.0),
    "wind_gust_m_s": ("m/s", 0.0, 150.0),
    "wind_dir_deg": ("°", 0.0, 360.0),
    "air_temp_c": ("°C", -90.0, 70.0),
    "pressure_hpa": ("hPa", 500.0, 1200.0),
    "din_mg_l": ("mg/L", 0.0, 100.0),
    "po4_mg_l": ("mg/L", 0.0, 100.0),
    "cod_mg_l": ("mg/L", 0.0, 1000.0),
}

Number = Annotated[float, Field(allow_inf_nan=False)] | None  # NaN, ±inf: a schema error


class BuoyReading(Reading):
    """One buoy reading, as published on ``fj/buoy/{station}/{device}``: any subset of the
    measurements (absent or null: not measured this time)."""

    water_temp_c: Number = None
    salinity_psu: Number = None
    conductivity_ms_cm: Number = None
    do_mg_l: Number = None
    do_sat_pct: Number = None
    ph: Number = None
    chl_ug_l: Number = None
    turbidity_ntu: Number = None
    depth_m: Number = None
    redox_mv: Number = None
    wave_height_m: Number = None
    wave_period_s: Number = None
    wave_dir_deg: Number = None
    wind_speed_m_s: Number = None
    wind_gust_m_s: Number = None
    wind_dir_deg: Number = None
    air_temp_c: Number = None
    pressure_hpa: Number = None
    din_mg_l: Number = None
    po4_mg_l: Number = None
    cod_mg_l: Number = None

    def values(self) -> dict[str, float | None]:
        """The measurements this reading carries (null ones included, absent ones not)."""
        return {name: getattr(self, name) for name in VARIABLES if name in self.model_fields_set}

    def split(self) -> tuple[BuoyReading | None, list[tuple[str, bytes]]]:
        """Each impossible value is refused on its own, with its reason; the rest go on."""
        refused = {}
        for name, value in self.values().items():
            unit, low, high = VARIABLES[name]
            if value is not None and not low <= value <= high:
                refused[name] = (f"impossible value: {name} {value} {unit} is impossible "
                                 f"(outside [{low}, {high}])")
        return self.without(refused)  # type: ignore[return-value]


class BuoyStation(BaseModel):
    """Catalog fields of a buoy station."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_class: int = Field(2, ge=1, le=4, description="GB 3097 class its waters should meet")
    climatology: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="Per variable, the usual range here (QC: outside is "
        "suspect); unset variables take the buoy.qc defaults")
    qc: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per variable, its own QARTOD thresholds (any fields "
        "of buoy.qc: sensor, climate, spike, rate_per_s, flat_s, flat_counts, flat_tolerance); "
        "the rest come from buoy.qc")
    interval_seconds: float = Field(600, gt=0, description="How often its buoys report")

    @field_validator("climatology")
    @classmethod
    def _known_variables(cls, value: dict[str, tuple[float, float]]
                         ) -> dict[str, tuple[float, float]]:
        """A misspelt variable would be silently never checked: refuse it."""
        unknown = sorted(set(value) - set(VARIABLES))
        if unknown:
            raise ValueError(f"no such buoy variable: {', '.join(unknown)}")
        if any(lo > hi for lo, hi in value.values()):
            raise ValueError("each range is [lo, hi] with lo <= hi")
        return value

    @field_validator("qc")
    @classmethod
    def _known_thresholds(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        check_overrides(value, set(VARIABLES))
        return value

    def thresholds(self, defaults: dict[str, VariableQc]) -> dict[str, VariableQc]:
        """Every variable's QARTOD thresholds at this station: the defaults, its climatology,
        its own thresholds, and flat lines counted in its own interval."""
        out = {}
        for name, base in defaults.items():
            if name in self.climatology:
                base = base.model_copy(update={"climate": self.climatology[name]})
            out[name] = overridden(base, self.qc.get(name, {})).at_interval(
                self.interval_seconds)
        return out


# Sensor spans: manufacturers' specifications of common buoy sensors (YSI EXO, Aanderaa,
# Vaisala WXT, Datawell). Climatologies: Fujian coastal waters (Fujian marine environment
# bulletins: surface water 8–33 °C, salinity 20–35 psu outside estuaries). Spike, rate and
# flat-line values follow the QARTOD manuals' guidance (thresholds from the variable's own
# natural variability at the station's sampling interval). The tide moves salinity,
# conductivity and DO within hours where a river meets the sea, so their flat line is counted
# in repeated observations (QARTOD's REP_CNT_SUSPECT / REP_CNT_FAIL) at the station's own
# interval: 30 minutes / 1 hour at a 15-minute estuary sonde, 2 / 4 hours at an hourly buoy.
# Temperature, pH and turbidity, reported to 0.1 by most sondes, stay unchanged for hours in
# real water (Winyah Bay's NDBC record holds a temperature for 3 h and a pH for 2 h), so they
# keep hour-long windows. Checked on NDBC 44005 (open coast, hourly) and NDBC WYSS1 (Winyah
# Bay estuary, 15-minute) with injected faults (tests/kinds/buoy/test_qc.py). DO's usual
# range takes in hypoxia: it is what the alerts are for, not a doubtful value. Salinity may
# change by 10 psu/h where an estuary's salt front passes with the tide.
DEFAULT_QC: dict[str, VariableQc] = {
    "water_temp_c": qc_per_hour((-5, 45), (8, 33), (2, 4), 3, (12, 24)),
    "salinity_psu": qc_per_hour((0, 45), (20, 35), (3, 6), 10, flat_counts=(2, 4)),
    "conductivity_ms_cm": qc_per_hour((0, 80), (25, 60), (4, 8), 15, flat_counts=(2, 4)),
    "do_mg_l": qc_per_hour((0, 25), (0.5, 15), (2.5, 5), 6, flat_counts=(2, 6)),
    "do_sat_pct": qc_per_hour((0, 300), (50, 150), (25, 50), 40, flat_counts=(2, 6)),
    "ph": qc_per_hour((2, 12), (7.3, 8.9), (0.4, 0.8), 0.5, (12, 24)),
    "chl_ug_l": qc_per_hour((0, 400), (0, 50), None, None, (12, 24)),
    "turbidity_ntu": qc_per_hour((0, 4000), (0, 200), None, None, (12, 24)),
    "depth_m": qc_per_hour((-5, 200)),
    "redox_mv": qc_per_hour((-1000, 1000), (-300, 600)),
    "wave_height_m": qc_per_hour((0, 25), (0, 12), (2, 4), 3, (2, 4)),
    "wave_period_s": qc_per_hour((0, 30), (1, 25), None, None, (4, 8)),
    "wave_dir_deg": qc_per_hour((0, 360), None, None, None, (6, 12)),
    "wind_speed_m_s": qc_per_hour((0, 75), (0, 50), (8, 15), 12, (2, 4)),
    "wind_gust_m_s": qc_per_hour((0, 90), (0, 70), (9, 18), 15, (2, 4)),
    "wind_dir_deg": qc_per_hour((0, 360), None, None, None, (2, 4)),
    "air_temp_c": qc_per_hour((-40, 60), (-5, 40), (4, 8), 5, (3, 6)),
    "pressure_hpa": qc_per_hour((850, 1080), (960, 1040), (6, 15), 6, (2, 4)),
    "din_mg_l": qc_per_hour((0, 20), (0, 2)),
    "po4_mg_l": qc_per_hour((0, 5), (0, 0.2)),
    "cod_mg_l": qc_per_hour((0, 100), (0, 10)),
}


class Gb3097(BaseModel):
    """Seawater quality standard GB 3097-1997, table 1: limits of classes I, II, III, IV."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    do_above: tuple[float, float, float, float] = Field(
        (6.0, 5.0, 4.0, 3.0), description="Dissolved oxygen > (mg/L)")
    ph_ranges: tuple[tuple[float, float], ...] = Field(
        ((7.8, 8.5), (7.8, 8.5), (6.8, 8.8), (6.8, 8.8)), description="pH within")
    din_max: tuple[float, float, float, float] = Field(
        (0.20, 0.30, 0.40, 0.50), description="Inorganic nitrogen (as N) ≤ (mg/L)")
    po4_max: tuple[float, float, float, float] = Field(
        (0.015, 0.030, 0.030, 0.045), description="Reactive phosphate (as P) ≤ (mg/L)")
    cod_max: tuple[float, float, float, float] = Field(
        (2.0, 3.0, 4.0, 5.0), description="Chemical oxygen demand ≤ (mg/L)")


class BuoySettings(BaseModel):
    """Buoy QC and ecology thresholds; each default's source is in its description."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qc: dict[str, VariableQc] = Field(default_factory=lambda: dict(DEFAULT_QC))
    max_gap_seconds: float = Field(
        3 * 3600, gt=0, description="QARTOD timing/gap: after a longer gap the spike and rate "
        "tests restart (no neighbour to compare with)")
    max_future_seconds: float = Field(
        300, ge=0, description="QARTOD timing: a reading stamped further ahead of the clock fails")
    gb3097: Gb3097 = Gb3097()
    hypoxia_warning_mg_l: float = Field(
        3.0, gt=0, description="DO at or below: hypoxic (GB 3097 class IV floor; Diaz & "
        "Rosenberg 2008 use 2 mg/L for severe hypoxia)")
    hypoxia_critical_mg_l: float = Field(2.0, gt=0, description="DO at or below: severe hypoxia")
    hypoxia_seconds: float = Field(1800, ge=0, description="How long DO must stay low to alert")
    bloom_baseline_days: float = Field(
        7.0, gt=0, description="Chlorophyll-a baseline: mean of passing values over this span")
    bloom_chl_ratio: float = Field(
        3.0, gt=1, description="Chlorophyll-a this many times its baseline counts as rising "
        "well above it (bloom onset in Fujian coastal monitoring: 2-5× background)")
    bloom_do_sat_pct: float = Field(
        120.0, gt=100, description="DO supersaturation that goes with photosynthesis in a bloom")
    bloom_ph_rise: float = Field(0.3, gt=0, description="pH above its baseline by this much")
    bloom_alert_score: float = Field(0.7, gt=0, le=1, description="Bloom-risk score that alerts")
    # China's ocean wave warning levels (significant wave height; GB/T 17839-style colours)
    wave_blue_m: float = Field(2.5, gt=0, description="Significant wave height: blue warning")
    wave_yellow_m: float = Field(3.5, gt=0, description="Significant wave height: yellow warning")
    wave_orange_m: float = Field(4.5, gt=0, description="Significant wave height: orange warning")
    wave_red_m: float = Field(6.0, gt=0, description="Significant wave height: red warning")


class Observation(Record):
    """One variable of one reading with its QARTOD flags (1 pass, 3 suspect, 4 fail, 9
    missing) and the tests that raised them."""

    station: str
    device: str
    seq: int
    ts: AwareDatetime
    variable: str
    value: float | None
    qc: int
    tests: str = Field(description="comma-separated tests that flagged the value, '' if none")


class CheckedReading(Record):
    """A reading after QC: its passing values only, what ecology derives from them, and each
    carried variable's flag (what alert rules judge; a failing value is inhibited there)."""

    site: str
    device: str
    seq: int
    ts: AwareDatetime
    do_mg_l: float | None = None
    do_sat_pct: float | None = Field(None, description="measured, else from gsw (TEOS-10)")
    ph: float | None = None
    chl_ug_l: float | None = None
    wave_height_m: float | None = None
    water_temp_c: float | None = None
    salinity_psu: float | None = None
    din_mg_l: float | None = None
    po4_mg_l: float | None = None
    cod_mg_l: float | None = None
    bloom_risk: float | None = Field(None, description="0-1: a risk score, not a verdict")
    qc_flags: dict[str, int] = Field(default_factory=dict)


class QualityHour(Record):
    """A station's seawater quality class over one hour, from its passing values."""

    station: str
    hour: AwareDatetime
    lat: float = Field(description="the station's position, for the map")
    lon: float
    quality_class: int = Field(description="1-4: GB 3097 class I-IV; 5: worse than class IV")
    class_label: str
    limiting: str = Field(description="the parameter that set the class")
    target_class: int
    class_excess: int = Field(description="quality_class - target_class (above 0: too poor)")
    samples: int
    qc: int = Field(description="1: every classed value of the hour passed QC; 3: some were "
                    "flagged, so the class is doubtful (alert rules do not judge it)")
    do_mg_l: float | None
    ph: float | None
    din_mg_l: float | None
    po4_mg_l: float | None
    cod_mg_l: float | None


# raw readings are kept as long as observations: replays bring years-old data
READINGS = raw_table("buoy_readings", BuoyReading, Timescale(segment_by="device",
                                                             compress_after="30 days"))
OBSERVATIONS = Stream("fj.derived.buoy_obs", Observation, Table(
    "buoy_observations", Observation, key=("station", "device", "ts", "variable"),
    time_column="ts", index=("station", "variable", "ts DESC"),
    timescale=Timescale(chunk="7 days", segment_by="station", compress_after="30 days")))
CHECKED = Stream("fj.derived.buoy", CheckedReading)
QUALITY = Stream("fj.derived.buoy_quality", QualityHour, Table(
    "buoy_quality_hourly", QualityHour, key=("station", "hour"), time_column="hour",
    index=("station", "hour DESC"), timescale=Timescale(chunk="30 days")))


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def processors() -> tuple[Callable[..., Any], ...]:
    from kinds.buoy.processor import BuoyQcProcessor, QualityProcessor

    return (BuoyQcProcessor, QualityProcessor)


def dashboards() -> tuple[Callable[..., Any], ...]:
    from kinds.buoy.dashboard import ocean_dashboard

    return (ocean_dashboard,)


def ocean_map() -> Callable[..., str]:
    from kinds.buoy.dashboard import buoy_map_layer

    return buoy_map_layer


def simulator() -> type:
    from kinds.buoy.simulator import BuoySimulator

    return BuoySimulator


def report() -> tuple[Callable[..., Any], ...]:
    from kinds.buoy.report import buoys_section

    return (buoys_section,)


def recordings() -> tuple[Callable[..., Any], ...]:
    from kinds.buoy.ndbc_files import read_ndbc

    return (read_ndbc,)


KIND = SensorKind(
    name="buoy",
    reading=BuoyReading,
    table=READINGS,
    site_fields=BuoyStation,
    derived=(OBSERVATIONS, CHECKED, QUALITY),
    settings_section="buoy",
    settings_model=BuoySettings,
    migrations=(Migration("0001_tables", tables=(READINGS, OBSERVATIONS.table, QUALITY.table)),),  # type: ignore[arg-type]
    processors=processors,
    dashboards=dashboards,
    ocean_map=ocean_map,
    simulator=simulator,
    recordings=recordings,
    report=report,
    recording_formats="NDBC stdmet or ocean",
    rules=Path(__file__).with_name("rules.yaml"),
    live_view=LiveView(
        "seawater quality per buoy station (latest hour)",
        "SELECT DISTINCT ON (station) station, hour, class_label, limiting, do_mg_l, ph "
        "FROM buoy_quality_hourly ORDER BY station, hour DESC",
        ("station", "hour", "class", "limiting", "DO mg/L", "pH"),
    ),
    # NDBC's buoy records begin in the 1970s and replays bring them; an hour is judged an
    # hour and its lateness after it began
    earliest_ts=datetime(1970, 1, 1, tzinfo=UTC),
    close_after_silence_seconds=4200,
)
