"""A thermometer: the smallest sensor kind, declared wholly inside tests/thermometer/ (laid
out as kinds/<name>/ is: kind, processor, dashboard, simulator, rules) to prove that a kind
is one plugin. Readings are annotated by a QC check and averaged over 5 minutes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fjsense.sensorkind import Migration, Reading, Record, SensorKind, Stream, Table, raw_table


class Thermometer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_c: float = Field(description="Top of the sensor's range; above it a reading is impossible")


class Room(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    floor: int = 0


class TempReading(Reading):
    temp_c: float = Field(ge=-273.15, allow_inf_nan=False)

    def physical_problem(self, device: Thermometer) -> str | None:
        return f"{self.temp_c} °C above the sensor's {device.max_c}" if self.temp_c > device.max_c else None


class TempObservation(Record):
    """A reading with its QC flag (1 pass, 3 suspect): stored, never dropped."""

    site: str
    device: str
    seq: int
    ts: AwareDatetime
    temp_c: float
    qc: int
    qc_tests: str | None


class TempMean(Record):
    site: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    readings: int
    mean_c: float


class ThermometerSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    window_seconds: int = Field(300, ge=60, description="Mean over 5 minutes")
    suspect_above_c: float = Field(40.0, description="QC: warmer is suspect (flag 3)")
    silent_after_seconds: float = Field(
        600.0, gt=0, description="A thermometer this far behind the newest holds no window open")


READINGS = raw_table("thermometer_readings", TempReading)
OBSERVED = Stream("fj.derived.thermometer.qc", TempObservation, Table(
    "thermometer_observations", TempObservation, ("device", "seq", "ts"), "ts"))
MEANS = Stream("fj.derived.thermometer.mean", TempMean, Table(
    "thermometer_means", TempMean, ("site", "window_start"), "window_start"))


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def processors() -> tuple[Callable[..., Any], ...]:
    from tests.thermometer.processor import ThermometerProcessor

    return (ThermometerProcessor,)


def dashboards() -> tuple[Callable[..., Any], ...]:
    from tests.thermometer.dashboard import dashboard

    return (dashboard,)


def simulator() -> type:
    from tests.thermometer.simulator import ThermometerSimulator

    return ThermometerSimulator


KIND = SensorKind(
    name="thermometer",
    reading=TempReading,
    table=READINGS,
    device_fields=Thermometer,
    site_fields=Room,
    derived=(OBSERVED, MEANS),
    settings_section="thermometer",
    settings_model=ThermometerSettings,
    migrations=(Migration("0001_tables", tables=(READINGS, OBSERVED.table, MEANS.table)),),  # type: ignore[arg-type]
    processors=processors,
    dashboards=dashboards,
    simulator=simulator,
    rules=Path(__file__).with_name("rules.yaml"),
)
