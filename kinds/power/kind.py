"""Datacenter power meters: cumulative energy and instantaneous power per circuit, and the
energy-based PUE derived from them (ISO/IEC 30134-2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fjsense.sensorkind import (
    Aggregate,
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

Circuit = Literal["facility", "it", "cooling", "lighting", "other"]


class PowerDevice(BaseModel):
    """Catalog fields of a power meter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    circuit: Circuit
    rated_kw: float = Field(gt=0, description="Above this the meter's kW reading is impossible")


class Datacenter(BaseModel):
    """Catalog fields of a datacenter site."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    it_design_kw: float = Field(gt=0, description="Design IT load; sizes the simulator")
    pue_target: float | None = Field(
        None, gt=1.0, description="This site's own PUE target; unset: the pue.target setting")


class PowerReading(Reading):
    """One meter reading, as published on ``fj/power/{site}/{meter}``.

    ``facility`` is the utility incomer (total facility energy), ``it`` the UPS/PDU output (IT
    equipment energy); other circuits are sub-loads. ``kwh`` is the meter's cumulative counter.
    """

    circuit: Circuit
    kw: float = Field(ge=0, allow_inf_nan=False, description="Instantaneous active power")
    kwh: float = Field(ge=0, allow_inf_nan=False, description="Cumulative active energy")

    def physical_problem(self, device: PowerDevice) -> str | None:
        if self.circuit != device.circuit:
            return f"circuit {self.circuit!r} but the catalog says {device.circuit!r}"
        if self.kw > device.rated_kw:
            return f"kw {self.kw} above the meter's rated {device.rated_kw} kW"
        return None


class PueWindow(Record):
    """Energy-based PUE of one site over one event-time window (and the rolling span)."""

    site: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    facility_kwh: float | None
    it_kwh: float | None
    cooling_kwh: float | None
    pue: float | None = Field(description="energy-based, over the window")
    pue_rolling: float | None = Field(description="energy-based, over the rolling span")
    instant_kw_ratio: float | None = Field(description="facility kW / IT kW at the end: not PUE")
    reason: str | None = Field(description="why pue is null")
    rolling_reason: str | None = Field(description="why pue_rolling is null")


class PueSettings(BaseModel):
    """Energy-based PUE (ISO/IEC 30134-2: total facility energy / IT equipment energy)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: float = Field(
        1.35, gt=1.0, description="Digital Fujian programme target: average PUE below 1.35"
    )
    resolve_below: float = Field(
        1.30, gt=1.0, description="Hysteresis: a firing PUE alert resolves below this"
    )
    alert_after_seconds: int = Field(
        300, ge=0, description="PUE must stay above target this long before the alert fires"
    )
    window_seconds: int = Field(60, ge=10, description="Tumbling window length")
    rolling_windows: int = Field(15, ge=1, description="Windows in the rolling value (15 min)")
    allowed_lateness_seconds: int = Field(
        120, ge=0, description="Event-time lateness accepted before a window is final"
    )
    max_gap_seconds: int = Field(
        120, ge=1, description="Longest gap between two readings that may be interpolated"
    )
    idle_seconds: int = Field(
        600, ge=0, description="A meter this far behind its site's newest stops holding windows"
    )
    min_spacing_seconds: float = Field(
        1.0, ge=0, description="A meter's readings closer than this to a kept one stay out of "
        "the PUE state (stored all the same); energy between kept points is the counter's")


READINGS = raw_table("power_readings", PowerReading)
PUE = Stream("fj.derived.pue", PueWindow, Table(
    "pue_windows", PueWindow, key=("site", "window_start"), time_column="window_start",
    index=("site", "window_end DESC"),
    timescale=Timescale(chunk="7 days", aggregates=(Aggregate("pue_hourly", timedelta(hours=1)),))))

_HOURLY = """
SELECT {bucket} AS bucket,
       site,
       sum(facility_kwh) AS facility_kwh,
       sum(it_kwh)       AS it_kwh,
       sum(facility_kwh) / nullif(sum(it_kwh), 0) AS pue,
       count(pue)        AS windows
FROM pue_windows
WHERE pue IS NOT NULL
GROUP BY 1, 2"""


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def processors() -> tuple[Callable[..., Any], ...]:
    from kinds.power.processor import PueProcessor

    return (PueProcessor,)


def report() -> tuple[Callable[..., Any], ...]:
    from kinds.power.report import pue_section

    return (pue_section,)


def dashboards() -> tuple[Callable[..., Any], ...]:
    from kinds.power.dashboard import datacenter_dashboard

    return (datacenter_dashboard,)


def simulator() -> type:
    from kinds.power.simulator import PowerSimulator

    return PowerSimulator


KIND = SensorKind(
    name="power",
    reading=PowerReading,
    table=READINGS,
    device_fields=PowerDevice,
    site_fields=Datacenter,
    derived=(PUE,),
    settings_section="pue",
    settings_model=PueSettings,
    migrations=(
        Migration("0001_tables", tables=(READINGS, PUE.table)),  # type: ignore[arg-type]
        Migration(
            "0002_pue_hourly",
            # hourly PUE by the hour the window starts in, on both backends
            postgres="CREATE VIEW pue_hourly AS" + _HOURLY.format(
                bucket="date_bin('1 hour', window_start, TIMESTAMPTZ '2000-01-01')"),
            timescaledb=(
                "CREATE MATERIALIZED VIEW pue_hourly WITH (timescaledb.continuous, "
                "timescaledb.materialized_only = false) AS"
                + _HOURLY.format(bucket="time_bucket('1 hour', window_start)")
                + "\nWITH NO DATA;\n"
                "SELECT add_continuous_aggregate_policy('pue_hourly', start_offset => INTERVAL "
                "'3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL "
                "'15 minutes');"),
        ),
    ),
    processors=processors,
    dashboards=dashboards,
    report=report,
    simulator=simulator,
    rules=Path(__file__).with_name("rules.yaml"),
    live_view=LiveView(
        "energy-based PUE per site (latest window); the alert fires above the target and "
        "clears only below the clear level",
        "SELECT DISTINCT ON (site) site, window_end, pue, pue_rolling, %s::float8 AS target, "
        "%s::float8 AS clears_below, instant_kw_ratio "
        "FROM pue_windows ORDER BY site, window_end DESC",
        ("site", "window end", "PUE 1 min", "PUE 15 min", "target", "clears below",
         "kW ratio now"),
        params=("pue.target", "pue.resolve_below"),
    ),
    # meters: the programme's metering history starts well after 2000, and a meter whose
    # clock was reset reads 1970 or 2000-01-01; a PUE window is final within minutes
    earliest_ts=datetime(2010, 1, 1, tzinfo=UTC),
    close_after_silence_seconds=900,
)
