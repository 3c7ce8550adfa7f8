"""QARTOD thresholds of one variable: what every kind that quality-controls its values in the
stream (buoys, tide gauges) configures, in the variable's own units."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class VariableQc(BaseModel):
    """QARTOD thresholds of one variable (units of the variable; rates per second)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sensor: tuple[float, float] = Field(description="Gross range: outside the sensor span, fail")
    climate: tuple[float, float] | None = Field(None, description="Gross range: outside, suspect")
    spike: tuple[float, float] | None = Field(
        None, description="Spike: |value - reference| above: suspect, fail")
    spike_reference: Literal["median", "trend"] = Field(
        "median", description="median: of the last 3 passing values (a slowly varying "
        "variable); trend: the line through the last 2 calm ones, carried to this time (a "
        "variable that swings steadily, such as the tide)")
    rate_per_s: float | None = Field(None, gt=0, description="Rate of change above: suspect")
    flat_s: tuple[float, float] | None = Field(
        None, description="Flat line: unchanged (within tolerance) this long: suspect, fail")
    flat_tolerance: float = Field(0.0, ge=0)


def qc_per_hour(sensor: tuple[float, float], climate: tuple[float, float] | None = None,
                spike: tuple[float, float] | None = None, rate_per_hour: float | None = None,
                flat_hours: tuple[float, float] | None = None, **more: object) -> VariableQc:
    """Thresholds written as people state them: rates per hour, flat lines in hours."""
    return VariableQc(
        sensor=sensor, climate=climate, spike=spike,
        rate_per_s=None if rate_per_hour is None else rate_per_hour / 3600,
        flat_s=None if flat_hours is None else (flat_hours[0] * 3600, flat_hours[1] * 3600),
        **more)
