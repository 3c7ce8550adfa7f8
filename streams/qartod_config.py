"""QARTOD thresholds of one variable: what every kind that quality-controls its values in the
stream (buoys, tide gauges) configures, in the variable's own units, and how a station's own
thresholds (from the catalog) and its sampling interval make them its own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


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
    flat_counts: tuple[int, int] | None = Field(
        None, description="Flat line as QARTOD states it (REP_CNT_SUSPECT, REP_CNT_FAIL): this "
        "many repeated observations at the station's own interval; used where flat_s is unset, "
        "so a 15-minute estuary sonde is judged in minutes, an hourly buoy in hours")
    flat_tolerance: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> VariableQc:
        """Each pair is (suspect, fail) or (low, high): a reversed one would never fire."""
        for name in ("sensor", "climate", "spike", "flat_s", "flat_counts"):
            pair = getattr(self, name)
            if pair is not None and pair[0] > pair[1]:
                raise ValueError(f"{name} must be [first, second] with first <= second")
        return self

    def at_interval(self, interval_seconds: float) -> VariableQc:
        """These thresholds for a station reporting every ``interval_seconds``: a flat line
        given in repeated observations becomes that many intervals."""
        if self.flat_s is not None or self.flat_counts is None:
            return self
        suspect, fail = self.flat_counts
        return self.model_copy(update={"flat_s": (suspect * interval_seconds,
                                                  fail * interval_seconds)})


def qc_per_hour(sensor: tuple[float, float], climate: tuple[float, float] | None = None,
                spike: tuple[float, float] | None = None, rate_per_hour: float | None = None,
                flat_hours: tuple[float, float] | None = None, **more: object) -> VariableQc:
    """Thresholds written as people state them: rates per hour, flat lines in hours."""
    return VariableQc(
        sensor=sensor, climate=climate, spike=spike,
        rate_per_s=None if rate_per_hour is None else rate_per_hour / 3600,
        flat_s=None if flat_hours is None else (flat_hours[0] * 3600, flat_hours[1] * 3600),
        **more)  # type: ignore[arg-type]


def overridden(base: VariableQc, override: Mapping[str, Any]) -> VariableQc:
    """``base`` with a station's own thresholds (any fields of VariableQc) in place.
    Setting ``flat_counts`` drops the base's ``flat_s``, so the counts take effect."""
    merged = {**base.model_dump(), **override}
    if "flat_counts" in override and "flat_s" not in override:
        merged["flat_s"] = None
    return VariableQc.model_validate(merged)


def check_overrides(overrides: Mapping[str, Mapping[str, Any]],
                    variables: set[str]) -> None:
    """A catalog's per-variable thresholds: known variables, VariableQc's fields, valid values.
    A misspelt name would silently never be checked, so it is refused."""
    unknown = sorted(set(overrides) - variables)
    if unknown:
        raise ValueError(f"no such variable: {', '.join(unknown)}")
    for name, override in overrides.items():
        fields = sorted(set(override) - set(VariableQc.model_fields))
        if fields:
            raise ValueError(f"{name}: no such QC threshold: {', '.join(fields)}; thresholds: "
                             f"{', '.join(VariableQc.model_fields)}")
        try:
            overridden(VariableQc(sensor=(float("-inf"), float("inf"))), override)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
