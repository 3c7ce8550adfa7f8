"""Sensor kinds: what a device of each kind sends, and where it flows.

Adding a sensor kind means one module here (its payload schema and physical checks), one
processor in ``streams/``, one migration in ``sinks/migrations``, one dashboard and one simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fjsense.catalog import Device


class Reading(BaseModel):
    """What every device message carries: who sent it, its sequence number, its event time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: str
    seq: int = Field(ge=0, description="Rises by one per message per device")
    ts: AwareDatetime = Field(description="Event time of the reading (UTC, ISO 8601)")

    def physical_problem(self, device: Device) -> str | None:
        """Why this reading is physically impossible for ``device``, or None."""
        return None


@dataclass(frozen=True)
class SensorKind:
    """A family of devices: payload schema, topics and table."""

    name: str
    reading: type[Reading]
    table: str

    @property
    def raw_topic(self) -> str:
        """Kafka topic of validated readings of this kind (keyed by site)."""
        return f"fj.raw.{self.name}"

    @property
    def mqtt_filter(self) -> str:
        return f"fj/{self.name}/+/+"

    def mqtt_topic(self, site: str, device: str) -> str:
        return f"fj/{self.name}/{site}/{device}"

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns of the kind's table, in the order the sink writes them."""
        return ("site", *self.reading.model_fields, "ingest_ts")


def registry() -> dict[str, SensorKind]:
    """Every sensor kind fjsense knows, by name."""
    from fjsense.kinds import power

    return {kind.name: kind for kind in (power.KIND,)}
