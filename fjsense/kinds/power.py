"""Datacenter power meters: one cumulative energy counter and instantaneous power per circuit."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fjsense.catalog import Device
from fjsense.kinds import Reading, SensorKind

Circuit = Literal["facility", "it", "cooling", "lighting", "other"]


class PowerReading(Reading):
    """One meter reading, as published on ``fj/power/{site}/{meter}``.

    ``facility`` is the utility incomer (total facility energy), ``it`` the UPS/PDU output (IT
    equipment energy); other circuits are sub-loads. ``kwh`` is the meter's cumulative counter.
    """

    circuit: Circuit
    kw: float = Field(ge=0, allow_inf_nan=False, description="Instantaneous active power")
    kwh: float = Field(ge=0, allow_inf_nan=False, description="Cumulative active energy")

    def physical_problem(self, device: Device) -> str | None:
        if device.circuit is not None and self.circuit != device.circuit:
            return f"circuit {self.circuit!r} but the catalog says {device.circuit!r}"
        if device.rated_kw is not None and self.kw > device.rated_kw:
            return f"kw {self.kw} above the meter's rated {device.rated_kw} kW"
        return None


KIND = SensorKind(
    name="power",
    reading=PowerReading,
    table="power_readings",
)
