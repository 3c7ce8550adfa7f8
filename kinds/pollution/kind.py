"""Pollution-source online monitoring (HJ 212-2017): wastewater and flue-gas points of the key
discharge units, their real-time, minute, hourly and daily data, the hourly compliance against
each point's emission limits, and the signs of tampering environment departments look for.

A site is a discharge unit; its devices are its monitoring points, each named by its HJ 212
MN (the device id). Points speak HJ 212 over TCP to ``fjsense hj212``, which publishes each
accepted data packet on ``fj/pollution/{site}/{mn}``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fjsense.sensorkind import (
    Component,
    ComponentSettings,
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

Flag = Literal["N", "F", "M", "S", "D", "C", "T", "B"]
Command = Literal["2011", "2051", "2061", "2031"]
NORMAL = "N"
# HJ 212-2017 flags: N normal, F stopped, M maintenance, S set by hand, D fault,
# C calibration, T over the analyzer's range, B communication lost
MAINTENANCE = ("F", "M", "S", "D", "C", "B")
FLOW = {"wastewater": "w00000", "flue_gas": "a00000"}  # the point's flow factor
# Sourced default limits (mg/L for water, mg/m³ for flue gas):
# GB 18918-2002 class 1A (municipal sewage plants): COD 50, NH3-N 5 (8 below 12 °C), TP 0.5;
# ultra-low emission of coal power (NDRC/MEE 2015): SO2 35, NOx 50, particulates 10.
DEFAULT_LIMITS = {
    "wastewater": {"w01018": 50.0, "w21003": 5.0, "w21011": 0.5},
    "flue_gas": {"a21026": 35.0, "a21002": 50.0, "a34013": 10.0},
}
POLLUTANTS = {"w01018": "COD", "w21003": "NH3-N", "w21011": "TP", "w01001": "pH",
              "w00000": "wastewater flow", "a21026": "SO2", "a21002": "NOx",
              "a34013": "particulates", "a19001": "O2", "a01012": "flue gas temperature",
              "a00000": "flue gas flow"}


class PollutionPoint(BaseModel):
    """Catalog fields of a monitoring point (the device; its id is its MN)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    point: Literal["wastewater", "flue_gas"]
    limits: dict[str, float] = Field(
        default_factory=dict, description="pollutant code → emission limit; unset codes take "
        "the point type's defaults (GB 18918-2002 1A, ultra-low emission)")
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description="pollutant code → the analyzer's range (lo, hi)")
    interval_seconds: float = Field(60, gt=0, description="Real-time data interval")

    def limit(self, code: str) -> float | None:
        return self.limits.get(code, DEFAULT_LIMITS[self.point].get(code))

    @model_validator(mode="after")
    def _ranges(self) -> PollutionPoint:
        for code, (lo, hi) in self.ranges.items():
            if not lo < hi:
                raise ValueError(f"range of {code}: {lo} is not below {hi}")
        return self


Finite = Annotated[float, Field(allow_inf_nan=False)]
# what a monitor can report at all (HJ 212 values are at most 14 digits with 6 decimals)
REPORTABLE = (-1e9, 1e12)
# what a factor cannot be, whatever the analyzer: a concentration or flow below zero, a pH
# outside 0-14 (HJ 212 codes; temperatures and the rest may be negative)
NOT_NEGATIVE = frozenset({"w01018", "w21003", "w21011", "w00000", "a21026", "a21002",
                          "a34013", "a19001", "a00000"})
PH = "w01001"


class FactorValue(BaseModel):
    """One factor of a packet: its value (Rtd, or Avg for minute/hour/day data), flag, and
    min, max and load (Cou) where sent."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    value: Finite | None = None
    flag: Flag | None = None
    min: Finite | None = None
    max: Finite | None = None
    cou: Finite | None = None

    def problem(self, code: str) -> str | None:
        """Why this factor cannot be (refused on its own), or None."""
        low, high = REPORTABLE
        for name in ("value", "min", "max", "cou"):
            number = getattr(self, name)
            if number is None:
                continue
            if not low <= number <= high:
                return f"{code} {name} {number} is beyond what a monitor reports"
            if code in NOT_NEGATIVE and number < 0 and name != "cou":
                return f"{code} ({POLLUTANTS.get(code, code)}) {name} {number} is below zero"
            if code == PH and name != "cou" and not 0 <= number <= 14:
                return f"{code} (pH) {name} {number} is outside 0-14"
        return None


class PollutionReading(Reading):
    """One HJ 212 data packet as the gateway publishes it on ``fj/pollution/{site}/{mn}``."""

    cn: Command = Field(description="2011 real-time, 2051 minute, 2061 hourly, 2031 daily")
    qn: str | None = Field(None, description="the packet's request number, as sent")
    values: dict[str, FactorValue] = Field(description="factor code → its values")

    def split(self) -> tuple[PollutionReading | None, list[tuple[str, bytes]]]:
        """Each impossible factor is refused on its own; the packet's other factors go on."""
        refused = {code: f"impossible value: {problem}" for code, f in self.values.items()
                   if (problem := f.problem(code)) is not None}
        if not refused:
            return self, []
        letters = [(reason, self.part(values={code: self.values[code].model_dump(
            exclude_none=True)})) for code, reason in refused.items()]
        kept = {c: f for c, f in self.values.items() if c not in refused}
        return (self.model_copy(update={"values": kept}) if kept else None), letters


class PollutionSettings(BaseModel):
    """Compliance and tamper-sign thresholds; each default's source in its description."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    valid_share: float = Field(
        0.75, gt=0, le=1, description="An hour is valid with this share of its real-time "
        "values normal (HJ 75-2017: at least 45 minutes of valid data in the hour)")
    allowed_lateness_seconds: float = Field(
        300, ge=0, description="An hour is final this long after its end (event time)")
    capture_target: float = Field(
        0.75, gt=0, le=1, description="Share of a period's hours that must be valid (the report's "
        "data capture: valid hours / expected hours). 75%: the pass mark the Ministry set for the "
        "effective transmission rate of nationally monitored sources (assessed from 2014); "
        "provinces that ask 90% set it")
    stuck_seconds: float = Field(
        7200, gt=0, description="A value unchanged this long is a tamper sign (a stuck or "
        "replaced analyzer; environment departments look at 2 h of constant data)")
    pin_tolerance: float = Field(
        1e-6, ge=0, description="A value this close to its limit or range edge is pinned there")
    pinned_samples: int = Field(
        30, ge=1, description="Values pinned at the limit or the range's edge this many times "
        "in a row are a tamper sign")


class PollutionValue(Record):
    """``pollution_readings``: one factor of one packet."""

    site: str
    mn: str
    ts: AwareDatetime
    cn: str
    pollutant: str
    value: float | None
    flag: str | None
    min: float | None
    max: float | None


class PointStatus(Record):
    """Each packet of a point as the rules judge it: tamper signs and maintenance flags (while
    a factor is flagged, ``qc_flags`` marks the signs 3: they are not judged)."""

    site: str
    device: str
    ts: AwareDatetime
    cn: str
    maintenance: str | None = Field(description="a factor's maintenance flag, if any")
    qc_flags: dict[str, int]
    stuck_s: float = Field(description="longest a pollutant's value has been unchanged")
    stuck_pollutant: str | None
    pinned: int = Field(description="values in a row at exactly the limit or a range edge")
    zero_flow: bool = Field(description="flow 0 while a pollutant's load (Cou) is not")


class HourlyAverage(Record):
    """``pollution_hourly``: a pollutant's hour at a point, from its normal real-time data."""

    site: str
    mn: str
    hour: AwareDatetime
    pollutant: str
    avg: float | None = Field(description="mean of the hour's real-time values flagged N")
    samples: int = Field(description="real-time values flagged N")
    expected: int = Field(description="real-time values the point's interval makes an hour")
    flagged: int = Field(description="values under a maintenance flag (their time is counted)")
    valid: bool = Field(description="samples ≥ pollution.valid_share × expected")
    limit: float | None
    exceeded: bool = Field(description="valid and avg above the limit")
    qc: int = Field(description="3 when the hour had maintenance flags: not judged")
    ts: AwareDatetime = Field(description="the hour's end")


class PointHour(Record):
    """A point's final hour, all pollutants: what the exceedance rule judges (``qc`` 3 when the
    hour had maintenance flags: not judged, so a calibration raises nothing)."""

    site: str
    device: str
    ts: AwareDatetime = Field(description="the hour's end")
    worst_ratio: float | None = Field(description="highest valid hourly average / its limit")
    worst_pollutant: str | None
    exceeded: str = Field(description="the pollutants above their limits, comma-separated")
    qc: int


READINGS = raw_table("pollution_packets", PollutionReading)
VALUES = Stream("fj.derived.pollution_value", PollutionValue, Table(
    "pollution_readings", PollutionValue, key=("site", "mn", "ts", "cn", "pollutant"),
    time_column="ts", index=("mn", "ts DESC"),
    timescale=Timescale(chunk="7 days", segment_by="mn", compress_after="30 days")))
STATUS = Stream("fj.derived.pollution", PointStatus)
HOURS = Stream("fj.derived.pollution_point_hour", PointHour)
HOURLY = Stream("fj.derived.pollution_hourly", HourlyAverage, Table(
    "pollution_hourly", HourlyAverage, key=("site", "mn", "hour", "pollutant"),
    time_column="hour", index=("site", "hour DESC"), timescale=Timescale(chunk="30 days")))

# Beijing calendar days: the compliance table environment departments read
DAILY = """
CREATE VIEW pollution_daily AS
SELECT (hour AT TIME ZONE 'Asia/Shanghai')::date AS day, site, mn, pollutant,
       count(*) FILTER (WHERE valid)              AS valid_hours,
       count(*) FILTER (WHERE exceeded)           AS exceedance_hours,
       count(*) FILTER (WHERE qc <> 1)            AS maintenance_hours,
       count(*) FILTER (WHERE valid)::float / 24  AS capture_rate
FROM pollution_hourly GROUP BY 1, 2, 3, 4;
CREATE VIEW pollution_compliance_daily AS
SELECT day, site, count(DISTINCT mn) AS points,
       sum(valid_hours) AS valid_hours, sum(exceedance_hours) AS exceedance_hours,
       sum(maintenance_hours) AS maintenance_hours, avg(capture_rate) AS capture_rate
FROM pollution_daily GROUP BY 1, 2;
"""


GATEWAY = "hj212"  # the gateway component: its command, settings section, log, letters' stage


class GatewaySettings(ComponentSettings):
    """The HJ 212-2017 TCP gateway (``fjsense hj212``) of pollution-source monitors: where it
    listens, its MQTT login (it may write only the pollution topics) and health endpoint."""

    username: str = Field("fjsense-hj212", description="Its MQTT login")
    health_port: int = Field(18095, ge=0, le=65535, description="Its health endpoint")
    host: str = Field("127.0.0.1", description="Address it listens on (0.0.0.0 in compose)")
    port: int = Field(18212, ge=0, le=65535, description="TCP port the monitors connect to")
    idle_seconds: float = Field(
        600, gt=0, description="A connection silent this long is closed (a half-open socket)")
    max_line_bytes: int = Field(
        16384, ge=64, description="A line longer than this is dropped (a packet is at most "
        "9,999 bytes of data and 12 of frame)")


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def gateway() -> Callable[[Any], None]:
    from kinds.pollution.gateway import run_gateway

    return run_gateway


def processors() -> tuple[Callable[..., Any], ...]:
    from kinds.pollution.processor import PollutionProcessor

    return (PollutionProcessor,)


def dashboards() -> tuple[Callable[..., Any], ...]:
    from kinds.pollution.dashboard import pollution_dashboard

    return (pollution_dashboard,)


def simulator() -> type:
    from kinds.pollution.simulator import PollutionSimulator

    return PollutionSimulator


def report() -> tuple[Callable[..., Any], ...]:
    from kinds.pollution.report import pollution_section

    return (pollution_section,)


KIND = SensorKind(
    name="pollution",
    reading=PollutionReading,
    table=READINGS,
    device_fields=PollutionPoint,
    derived=(VALUES, STATUS, HOURLY, HOURS),
    settings_section="pollution",
    settings_model=PollutionSettings,
    migrations=(Migration("0001_tables", tables=(READINGS, VALUES.table, HOURLY.table),  # type: ignore[arg-type]
                          sql=DAILY),),
    processors=processors,
    dashboards=dashboards,
    simulator=simulator,
    report=report,
    rules=Path(__file__).with_name("rules.yaml"),
    components=(Component(
        GATEWAY, "run the HJ 212-2017 TCP gateway of pollution monitors (into MQTT) in the "
        "foreground", GatewaySettings, run=gateway, publishes=True, tcp=True),),
    live_view=LiveView(
        "each point's latest final hour: valid pollutants, exceedances, worst average / limit",
        "SELECT DISTINCT ON (mn) site, mn, hour, valid, pollutants, exceeded, worst\n"
        "FROM (SELECT site, mn, hour, count(*) FILTER (WHERE valid) AS valid,\n"
        "             count(*) AS pollutants,\n"
        "             coalesce(string_agg(pollutant, ',') FILTER (WHERE exceeded), '') AS exceeded,\n"
        "             max(avg / nullif(\"limit\", 0)) FILTER (WHERE valid) AS worst\n"
        "      FROM pollution_hourly GROUP BY site, mn, hour) h\n"
        "ORDER BY mn, hour DESC",
        ("unit", "MN", "hour", "valid", "pollutants", "exceeded", "worst avg/limit"),
    ),
    # HJ 212's first edition (HJ/T 212-2005); an hour is final an hour and its lateness
    # (300 s) after it began
    earliest_ts=datetime(2005, 1, 1, tzinfo=UTC),
    close_after_silence_seconds=3900,
)
