"""The one home of every URL, port, threshold and secret of fjsense.

Values come, strongest first, from ``FJSENSE_…`` environment variables (nested with ``__``,
e.g. ``FJSENSE_PUE__TARGET=1.3``), then the YAML file named by ``FJSENSE_CONFIG`` (default
``fjsense.yaml`` in the working directory, if present), then the sourced defaults below.
Secrets are ``SecretStr``: they never print.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttSettings(_Section):
    """MQTT broker. With ``host`` unset, the embedded Mosquitto is used."""

    host: str | None = Field(None, description="External broker host; unset = embedded")
    port: int = Field(18830, description="Broker port (embedded broker listens here)")
    bridge_username: str = "fjsense-bridge"
    bridge_password: SecretStr | None = Field(None, description="Generated into .fjsense/ if unset")
    notifier_username: str = "fjsense-notifier"
    notifier_password: SecretStr | None = None
    qos: int = Field(1, ge=0, le=2)
    receive_maximum: int = Field(
        200, ge=1, le=65535, description="Unacknowledged QoS 1 messages the broker may send us"
    )

    @property
    def external(self) -> bool:
        return self.host is not None


class KafkaSettings(_Section):
    """Kafka (Apache Kafka in production, Tansu embedded). Unset ``bootstrap`` = embedded."""

    bootstrap: str | None = Field(None, description="External bootstrap servers; unset = embedded")
    port: int = Field(19092, description="Embedded broker port")
    partitions: int = Field(4, ge=1)
    replication: int = Field(1, ge=1)

    @property
    def external(self) -> bool:
        return self.bootstrap is not None

    @property
    def servers(self) -> str:
        return self.bootstrap or f"127.0.0.1:{self.port}"


class DatabaseSettings(_Section):
    """PostgreSQL/TimescaleDB. Unset ``host`` = embedded PostgreSQL under the stack home."""

    host: str | None = Field(None, description="External database host; unset = embedded")
    port: int = Field(15432)
    name: str = "fjsense"
    admin_user: str = "fjsense_admin"
    admin_password: SecretStr | None = None
    writer_user: str = "fjsense_writer"
    writer_password: SecretStr | None = None
    reader_user: str = "fjsense_reader"
    reader_password: SecretStr | None = None

    @property
    def external(self) -> bool:
        return self.host is not None


class PueSettings(_Section):
    """Energy-based PUE (ISO/IEC 30134-2: total facility energy / IT equipment energy)."""

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


class IngestSettings(_Section):
    max_future_seconds: int = Field(300, ge=0, description="Reject readings stamped further ahead")
    linger_ms: int = Field(5, ge=0)
    batch_size: int = Field(64 * 1024, ge=1024)


class SinkSettings(_Section):
    max_batch: int = Field(5000, ge=1, description="Records per database transaction at most")
    poll_timeout_ms: int = Field(500, ge=10)


class AlertSettings(_Section):
    rules_file: Path | None = Field(None, description="YAML rule file; unset = the shipped one")
    webhook_url: str | None = Field(None, description="JSON POST target for alert transitions")
    mqtt_topic_prefix: str = "fj/alerts"


class StackSettings(_Section):
    home: Path = Field(Path(".fjsense"), description="Data, logs, pid files and secrets")
    postgres_bin_dir: Path | None = Field(None, description="Default: newest /usr/lib/postgresql")


class Settings(BaseSettings):
    """Effective configuration of one fjsense process."""

    model_config = SettingsConfigDict(
        env_prefix="FJSENSE_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    mqtt: MqttSettings = MqttSettings()
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    pue: PueSettings = PueSettings()
    ingest: IngestSettings = IngestSettings()
    sink: SinkSettings = SinkSettings()
    alerts: AlertSettings = AlertSettings()
    stack: StackSettings = StackSettings()
    catalog_file: Path | None = Field(None, description="Station catalog YAML; unset = shipped")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = Path(os.environ.get("FJSENSE_CONFIG", "fjsense.yaml"))
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
        )

    @property
    def home(self) -> Path:
        return self.stack.home.resolve()


NOT_SETTINGS = frozenset({"FJSENSE_CONFIG", "FJSENSE_GRAFANA_TOKEN"})


def names_a_setting(env_name: str) -> bool:
    """Whether ``FJSENSE_A__B`` names field ``b`` of section ``a`` of the settings."""
    model: type[BaseModel] = Settings
    parts = env_name.removeprefix("FJSENSE_").lower().split("__")
    for n, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        elif n < len(parts) - 1:
            return False
    return True


def unknown_variables(environ: dict[str, str]) -> list[str]:
    """``FJSENSE_…`` variables that match no setting: typos that would silently do nothing."""
    return sorted(k for k in environ
                  if k.startswith("FJSENSE_") and k not in NOT_SETTINGS and not names_a_setting(k))


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets shown as ``**********`` (or null when unset)."""
    return settings.model_dump(mode="json")
