"""The one home of every URL, port, threshold and secret of fjsense.

Values come, strongest first, from ``FJSENSE_…`` environment variables (nested with ``__``,
e.g. ``FJSENSE_PUE__TARGET=1.3``), then the YAML file named by ``FJSENSE_CONFIG`` (default
``fjsense.yaml`` in the working directory, if present), then the sourced defaults below.
Secrets are ``SecretStr``: they never print.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
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
    qos: int = Field(1, ge=1, le=2, description="0 would let the broker drop readings: refused")
    receive_maximum: int = Field(
        200, ge=1, le=65535, description="Unacknowledged QoS 1 messages the broker may send us"
    )

    @property
    def external(self) -> bool:
        """Whether an external broker is used (then the embedded one is not started)."""
        return self.host is not None


class KafkaSettings(_Section):
    """Kafka (Apache Kafka in production, Tansu embedded). Unset ``bootstrap`` = embedded."""

    bootstrap: str | None = Field(None, description="External bootstrap servers; unset = embedded")
    port: int = Field(19092, description="Embedded broker port")
    partitions: int = Field(4, ge=1)
    replication: int = Field(1, ge=1)

    @property
    def external(self) -> bool:
        """Whether an external Kafka is used (then no Tansu workarounds apply)."""
        return self.bootstrap is not None

    @property
    def servers(self) -> str:
        """The bootstrap servers clients use: the external ones, or the embedded broker's port."""
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
    retention: dict[str, str] = Field(
        default_factory=dict, description="Per hypertable, how long rows are kept (e.g. "
        '{"power_readings": "800 days"}; "none": for ever); a table not named keeps its '
        "declared age (README: Database); TimescaleDB only, applied by `fjsense db migrate`")
    compress_after: dict[str, str] = Field(
        default_factory=dict, description="Per hypertable that is compressed, the age at which "
        'its chunks are (e.g. {"buoy_observations": "14 days"}); a table not named keeps its '
        "declared age; TimescaleDB only, applied by `fjsense db migrate`")

    @property
    def external(self) -> bool:
        """Whether an external database is used (then the embedded one is not started)."""
        return self.host is not None


class IngestSettings(_Section):
    """The bridge: micro-batches per Kafka key, bounded by count, size and linger."""

    max_future_seconds: int = Field(300, ge=0, description="Reject readings stamped further ahead")
    max_message_bytes: int = Field(
        256 * 1024, ge=1024, le=512 * 1024,
        description="Larger messages are refused whole (a Kafka record holds at most 1 MB)")
    batch_readings: int = Field(1000, ge=1, description="Readings per Kafka record at most")
    batch_bytes: int = Field(512 * 1024, ge=1024, description="Bytes per Kafka record at most")
    linger_ms: int = Field(20, ge=0, description="A batch is sent this long after it opened")
    compression: Literal["lz4", "zstd", "gzip", "none"] = Field(
        "lz4", description="Kafka record compression")
    client_id: str = Field("fjsense-bridge", description="MQTT client id and persistent session")
    shared_group: str = Field("fjsense", description="MQTT v5 shared subscription group")
    # device clocks (ingest/clocks.py): NTP's minimum-delay filter over a sliding window
    clock_window_seconds: float = Field(
        3600.0, gt=0, description="Arrivals over which a device's smallest delay is taken: "
        "long enough that one message came with little queuing (NTP takes the least "
        "delayed of its 8 most recent polls, 64 s to 17 min apart)")
    clock_min_samples: int = Field(
        3, ge=2, description="Messages a window holds before its device is estimated; two at "
        "least, so that a replay of one old message is not a clock behind")
    clock_catch_up_seconds: float = Field(
        60.0, ge=0, description="A window whose event time ran this much further than its "
        "arrivals is a replay or a backlog being caught up, not a clock: no estimate from it")
    clock_report_seconds: float = Field(
        60.0, gt=0, description="How often the bridge sends the estimates of devices heard "
        "from (fj.device_clock, table device_clock)")
    clock_skew_alert_seconds: float = Field(
        120.0, gt=0, description="Rule device-clock-skew fires past this offset either way: "
        "two minutes puts readings into the wrong one-minute windows and past most "
        "lateness bounds")
    clock_skew_for_seconds: float = Field(
        600.0, ge=0, description="How long an offset stays past clock_skew_alert_seconds before "
        "device-clock-skew fires (the rule's `for`)")


class SinkSettings(_Section):
    """The Kafka → database sink: how much one transaction takes (bigger batches, fewer
    commits)."""

    max_batch: int = Field(5000, ge=1, description="Records per database transaction at most")
    poll_timeout_ms: int = Field(500, ge=10)
    aggregate_refresh_seconds: float = Field(
        30.0, gt=0, description="How often the continuous aggregates' buckets written into "
        "are refreshed (late data reaches them; sinks/refresh.py)")


# the platform's own processes; a kind may add its own (``SensorKind.components``)
PLATFORM_COMPONENTS = ("run", "bridge", "worker", "sink", "notify")


class HealthSettings(_Section):
    """Each component's health endpoint (``GET /health``); port 0 serves none."""

    host: str = Field("127.0.0.1", description="Address the endpoints listen on")
    run_port: int = Field(18090, ge=0, le=65535, description="The `fjsense run` supervisor")
    bridge_port: int = Field(18091, ge=0, le=65535)
    worker_port: int = Field(18092, ge=0, le=65535)
    sink_port: int = Field(18093, ge=0, le=65535)
    notify_port: int = Field(18094, ge=0, le=65535)
    max_lag: int = Field(
        100_000, ge=0, description="Consumer lag (records) above which `fjsense health` fails")
    stall_seconds: float = Field(
        60.0, gt=0, description="A worker with lag that took nothing for this long is stalled")
    partition_warn_records: int = Field(
        40_000, gt=0, description="Records in one partition of the embedded broker above which "
        "`fjsense health` warns: each fetch below a partition's end lists all its batches "
        "(25.8 ms at 40,000, against the sink's 50 ms fetch wait; FACTS)")

    def port(self, component: str) -> int:
        """The endpoint port of platform component ``component`` (run, bridge, worker, sink
        or notify); a kind's component has its own (``Settings.health_port``)."""
        port: int = getattr(self, f"{component}_port")
        return port


class SuperviseSettings(_Section):
    """`fjsense run`: a component that exits is started again, after a doubling pause."""

    min_restart_seconds: float = Field(1.0, gt=0)
    max_restart_seconds: float = Field(60.0, gt=0)
    stable_seconds: float = Field(
        60.0, gt=0, description="Running this long resets a component's restart pause")


class AlertSettings(_Section):
    """The alert engine and notifier: rules, receivers, grouping and retries, each default
    sourced."""

    rules_file: Path | None = Field(None, description="YAML rule file; unset = the shipped one")
    tick_seconds: float = Field(
        1.0, gt=0, description="How often rules are judged without data (no data, for, "
        "keep_firing_for)")
    live_within_seconds: float = Field(
        900.0, ge=0, description="A stream whose newest event time is this close to now is "
        "live: its event time moves on with the wall clock while it is silent")
    webhook_url: str | None = Field(None, description="JSON POST target for alert messages")
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key signing each webhook body (X-Fjsense-Signature)")
    mqtt_topic_prefix: str = "fj/alerts"
    grafana_url: str = Field(
        "http://localhost:3000", description="Grafana as people open it: messages link to "
        "each alert's dashboard panel there")
    # the workplace messengers' custom robots (sinks/messengers.py); their URLs carry access
    # tokens, so they are secrets like the signing keys
    dingtalk_url: SecretStr | None = Field(
        None, description="DingTalk robot webhook (https://oapi.dingtalk.com/robot/send?"
        "access_token=…)")
    dingtalk_secret: SecretStr | None = Field(
        None, description="The DingTalk robot's signing secret (加签, SEC…); unset: unsigned")
    wecom_url: SecretStr | None = Field(
        None, description="WeCom group robot webhook (https://qyapi.weixin.qq.com/cgi-bin/"
        "webhook/send?key=…); the key is its credential")
    feishu_url: SecretStr | None = Field(
        None, description="Feishu custom bot webhook (https://open.feishu.cn/open-apis/bot/v2/"
        "hook/…)")
    feishu_secret: SecretStr | None = Field(
        None, description="The Feishu bot's signing secret (签名校验); unset: unsigned")
    smtp_host: str | None = Field(None, description="SMTP server for e-mail; unset: no e-mail")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str = "fjsense@localhost"
    email_to: tuple[str, ...] = Field((), description="Recipients of alert e-mail")
    group_wait_seconds: float = Field(
        30.0, ge=0, description="A new group of alerts waits this long to gather more")
    group_interval_seconds: float = Field(
        300.0, ge=0, description="A group already notified waits this long before the next")
    repeat_interval_seconds: float = Field(
        4 * 3600.0, gt=0, description="A still firing, unacknowledged alert is sent again")
    notify_poll_seconds: float = Field(0.5, gt=0, description="How often the notifier looks")
    max_retry_seconds: float = Field(
        60.0, gt=0, description="Longest pause between two delivery attempts")


class BroadcastSettings(_Section):
    """The coast's broadcast points (``sinks/broadcast.py``): which points an alert reaches, how
    often it is repeated until a point acknowledges, and when a point counts as silent."""

    enabled: bool = Field(True, description="The receiver `broadcast` is configured")
    topic_prefix: str = Field("fj/broadcast", description="Points read {prefix}/{point} and "
                              "acknowledge on {prefix}/{point}/ack")
    within_km: float = Field(
        30.0, gt=0, description="A point hears the alerts of stations this close (great-circle "
        "distance), and of its own district")
    repeat_seconds: float = Field(
        60.0, gt=0, description="An unacknowledged broadcast of a firing alert is sent again")
    expires_seconds: float = Field(
        3600.0, gt=0, description="A point stops reading out a broadcast this long after `ts`")
    silent_after_seconds: float = Field(
        600.0, gt=0, description="A point that leaves a broadcast unacknowledged this long "
        "raises broadcast-point-silent (10 repeats at the default pace)")
    report_seconds: float = Field(
        60.0, gt=0, description="How often each point's delivery state goes on "
        "fj.broadcast.status")


class CatalogSettings(_Section):
    """Where the operator's own stations are, beside the shipped catalog."""

    file: Path | None = Field(
        None, description="Operator's catalog YAML: its regions and sites add to (or replace, by "
        "id) the shipped ones")


class StackSettings(_Section):
    """The embedded stack: where its servers keep data, logs and secrets."""

    home: Path = Field(Path(".fjsense"), description="Data, logs, pid files and secrets")
    postgres_bin_dir: Path | None = Field(None, description="Default: newest /usr/lib/postgresql")


class Settings(BaseSettings):
    """Effective configuration of one fjsense process."""

    model_config = SettingsConfigDict(
        env_prefix="FJSENSE_", env_nested_delimiter="__", frozen=True, extra="allow"
    )

    mqtt: MqttSettings = MqttSettings()
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    ingest: IngestSettings = IngestSettings()
    sink: SinkSettings = SinkSettings()
    alerts: AlertSettings = AlertSettings()
    catalog: CatalogSettings = CatalogSettings()
    broadcast: BroadcastSettings = BroadcastSettings()
    health: HealthSettings = HealthSettings()
    supervise: SuperviseSettings = SuperviseSettings()
    stack: StackSettings = StackSettings()
    plugins: tuple[str, ...] = Field(
        (), description="Modules of extra sensor kinds (each with a KIND), e.g. mycorp.kinds.x")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then the kinds' sections from the environment, then the YAML file:
        the precedence the module's docstring promises."""
        yaml_file = Path(os.environ.get("FJSENSE_CONFIG", "fjsense.yaml"))
        return (
            init_settings,
            env_settings,
            KindSectionsEnvSource(settings_cls),
            YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file),
        )

    @model_validator(mode="after")
    def _kind_sections(self) -> Settings:
        """Sections beyond the core belong to sensor kinds; each is validated by its kind."""
        sections = kind_sections(self.plugins)
        extra = self.__pydantic_extra__ if self.__pydantic_extra__ is not None else {}
        unknown = sorted(set(extra) - set(sections))
        if unknown:
            raise ValueError(f"no such setting section: {', '.join(unknown)}")
        for name, model in sections.items():
            value = extra.get(name, {})
            if isinstance(value, model):
                continue
            try:
                extra[name] = model.model_validate(value)
            except ValidationError as exc:
                raise ValueError("; ".join(
                    f"{'.'.join(map(str, (name, *e['loc'])))}: {e['msg']}" for e in exc.errors()
                )) from None
        return self

    def section(self, name: str) -> BaseModel:
        """A sensor kind's settings section, validated by its kind."""
        value = (self.__pydantic_extra__ or {}).get(name)
        if not isinstance(value, BaseModel):
            raise LookupError(f"no settings section {name!r}")  # noqa: TRY004
        return value

    def health_port(self, component: str) -> int:
        """The health endpoint port of any component: the platform's from ``health``, a
        kind's component from its own section (``{component}.health_port``)."""
        if component in PLATFORM_COMPONENTS:
            return self.health.port(component)
        port: int = getattr(self.section(component), "health_port")  # noqa: B009
        return port

    @property
    def home(self) -> Path:
        """The stack home, absolute: child processes may start in another folder."""
        return self.stack.home.resolve()


# not settings: the config file, a token read by one command, the range free ports are chosen
# from (fjsense.stack.service: parallel test workers each set their own)
NOT_SETTINGS = frozenset({"FJSENSE_CONFIG", "FJSENSE_GRAFANA_TOKEN", "FJSENSE_PORT_RANGE"})


def component_sections(plugins: tuple[str, ...] = ()) -> dict[str, type[BaseModel]]:
    """The settings sections of the kinds' components (``hj212`` …), by component name."""
    from fjsense.registry import registry

    return {c.name: c.settings_model for k in registry(plugins).values() for c in k.components}


def kind_sections(plugins: tuple[str, ...] = ()) -> dict[str, type[BaseModel]]:
    """Settings sections declared by the sensor kinds, by section name."""
    from fjsense.registry import registry

    return {name: model for k in registry(plugins).values() for name, model in k.sections.items()}


class KindSectionsEnvSource(PydanticBaseSettingsSource):
    """``FJSENSE_<SECTION>__<NAME>`` variables of sections that are not core fields."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: this source reads whole sections in ``__call__``."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in os.environ.items():
            if not key.startswith("FJSENSE_") or key in NOT_SETTINGS or "__" not in key:
                continue
            section, *path = key.removeprefix("FJSENSE_").lower().split("__")
            if section in self.settings_cls.model_fields:
                continue
            node = found.setdefault(section, {})
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = _maybe_json(value)
        return found


def _maybe_json(value: str) -> Any:
    """Lists and mappings arrive as JSON (as pydantic-settings reads them for core sections)."""
    if value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def names_a_setting(env_name: str, plugins: tuple[str, ...] = ()) -> bool:
    """Whether ``FJSENSE_A__B`` names field ``b`` of section ``a`` (core or a kind's)."""
    top: dict[str, Any] = {n: f.annotation for n, f in Settings.model_fields.items()}
    top.update(kind_sections(plugins))
    parts = env_name.removeprefix("FJSENSE_").lower().split("__")
    annotation = top.get(parts[0])
    if parts[0] not in top:
        return False
    for part in parts[1:]:
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        field = annotation.model_fields.get(part)
        if field is None:
            return False
        annotation = field.annotation
    return True


def unknown_variables(environ: dict[str, str], plugins: tuple[str, ...] = ()) -> list[str]:
    """``FJSENSE_…`` variables that match no setting: typos that would silently do nothing."""
    return sorted(k for k in environ if k.startswith("FJSENSE_") and k not in NOT_SETTINGS
                  and not names_a_setting(k, plugins))


# secrets made on first use when unset, and kept in the stack's secrets file
GENERATED = {"database": ("admin_password", "writer_password", "reader_password"),
             "mqtt": ("bridge_password", "notifier_password")}


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as plain data, secrets shown as ``**********``; an unset one that is
    generated says where it is kept (the secrets file, readable by its owner only)."""
    data = settings.model_dump(mode="json")
    generated = {**GENERATED, **{name: ("password",) for name in component_sections(settings.plugins)}}
    for section, names in generated.items():
        for name in names:
            if data[section][name] is None:
                data[section][name] = f"(unset: generated into {settings.home / 'secrets.json'})"
    return data
