"""What a sensor kind declares, in one place: its records, catalog fields, streams, tables,
settings, migrations, alert rules, extra components, and the stage code that serves it.

Stage code (processors, dashboards, simulator, commands, recording readers) is referenced by
object, through a function of no arguments in the kind's own module that imports it and
returns it. So the kernel imports no stage, each stage loads only what it runs (the tide fit's
SciPy stays out of the bridge), a renamed part fails the type check rather than a run, and an
import error names the kind (``SensorKind.load``).
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    create_model,
)

MAX_BIGINT = 2**63 - 1


class Record(BaseModel):
    """A typed record on a Kafka topic; strict, so its JSON is exactly what is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Reading(Record):
    """What every device reading carries: who sent it, its sequence number, its event time."""

    device: str
    seq: int = Field(ge=0, le=MAX_BIGINT, description="Rises by one per reading per device")
    ts: AwareDatetime = Field(description="Event time of the reading (UTC, ISO 8601)")

    def physical_problem(self, device: Any) -> str | None:
        """Why this reading is impossible for ``device`` (its catalog fields), or None."""
        return None

    def split(self) -> tuple[Reading | None, list[tuple[str, bytes]]]:
        """What of this reading goes on (None: nothing) and a (reason, part) per part refused
        on its own, e.g. one sample of a measurement report. By default a reading is whole."""
        return self, []

    def part(self, **values: Any) -> bytes:
        """A refused part as its dead letter keeps it: who sent it, when, and only ``values``,
        so that an operator sees what was refused and a replay sends nothing else twice."""
        return json.dumps({"device": self.device, "seq": self.seq,
                           "ts": self.ts.isoformat().replace("+00:00", "Z"), **values},
                          separators=(",", ":")).encode()

    def without(self, refused: dict[str, str]) -> tuple[Reading | None, list[tuple[str, bytes]]]:
        """This reading less the measured quantities in ``refused`` (name → reason), each a
        dead letter of its own; None when nothing measured is left. One impossible value
        costs only itself: the reading's good values go on."""
        if not refused:
            return self, []
        letters = [(reason, self.part(**{name: getattr(self, name)}))
                   for name, reason in refused.items()]
        measured = {n for n in self.model_fields_set if n not in ("device", "seq", "ts")}
        if measured <= set(refused):
            return None, letters
        data = self.model_dump(exclude=set(refused) | (set(type(self).model_fields) -
                                                       self.model_fields_set))
        for name in refused:  # a field the reading must carry goes on as null: not known
            if type(self).model_fields[name].is_required():
                data[name] = None
        return type(self).model_validate(data), letters


class NoFields(BaseModel):
    """Catalog fields of a kind that declares none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class Aggregate:
    """A continuous aggregate over a table, bucketing its time column by ``bucket``.

    Declared on the table because the sink writes the table: it notes each bucket it wrote
    into, and those buckets are refreshed soon after (``sinks/refresh.py``). TimescaleDB's own
    refresh policy looks back a fixed span, so a replay or backfill older than that would
    never reach the stored aggregate (timescaledb #7960, #3546)."""

    view: str
    bucket: timedelta  # time_bucket's width, from its default origin (a Monday, 2000-01-03)


@dataclass(frozen=True)
class Timescale:
    """How a table is kept on TimescaleDB (ignored on plain PostgreSQL); ``hypertable``
    False for a small table that is no time series (e.g. model versions)."""

    hypertable: bool = True
    chunk: str = "1 day"
    segment_by: str | None = None  # compression segment column
    compress_after: str | None = None
    retain: str | None = None
    aggregates: tuple[Aggregate, ...] = ()


@dataclass(frozen=True)
class Table:
    """A table whose columns are a record model's fields (plus ``extra`` columns before them).

    ``extra`` are the columns a raw table takes from the Kafka record rather than the reading:
    ``site`` (the key) and ``ingest_ts`` (the record's timestamp).
    """

    name: str
    model: type[BaseModel]
    key: tuple[str, ...]
    time_column: str
    index: tuple[str, ...] = ()
    timescale: Timescale = Timescale()
    extra: tuple[tuple[str, type], ...] = ()
    names: tuple[str, ...] = ()  # columns of a platform table made by SQL, when not the model's
    # a row sent again for its key replaces the stored one (a window's correction), instead
    # of being absorbed as a duplicate
    upsert: bool = False

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """The table's columns in order: the raw extras' ``site`` first, then the model's
        fields, then ``ingest_ts``."""
        if self.names:
            return self.names
        fields = tuple(self.model.model_fields)
        return tuple(n for n, _ in self.extra if n == "site") + fields + tuple(
            n for n, _ in self.extra if n != "site")

    @cached_property
    def json_columns(self) -> tuple[int, ...]:
        """Positions of the columns holding a list or mapping (stored as JSON)."""
        return tuple(n for n, (_, annotation, _) in enumerate(self.column_types())
                     if is_json(annotation))

    def column_types(self) -> list[tuple[str, Any, bool]]:
        """(name, annotation, required) per column, in column order."""
        extra = {n: t for n, t in self.extra}
        out: list[tuple[str, Any, bool]] = []
        for name in self.columns:
            if name in extra:
                out.append((name, extra[name], True))
            else:
                info = self.model.model_fields[name]
                out.append((name, info.annotation, info.is_required()))
        return out


def is_json(annotation: Any) -> bool:
    """Whether a field holds a list or mapping (a JSON column), under Optional/Annotated."""
    origin = get_origin(annotation)
    if origin in (list, dict, tuple):
        return True
    if origin in (Annotated, Union, types.UnionType):
        return any(is_json(a) for a in get_args(annotation) if a is not type(None))
    return False


RAW_TIMESCALE = Timescale(chunk="1 day", segment_by="device", compress_after="7 days",
                          retain="400 days")


def raw_table(name: str, reading: type[Reading], timescale: Timescale = RAW_TIMESCALE) -> Table:
    """A kind's table of readings: one row per (device, seq, ts), with site and ingest time."""
    return Table(name, reading, key=("device", "seq", "ts"), time_column="ts",
                 index=("site", "ts DESC"), timescale=timescale,
                 extra=(("site", str), ("ingest_ts", datetime)))


@dataclass(frozen=True)
class Stream:
    """A Kafka topic of typed records; each Kafka record is a JSON array of ``model``."""

    topic: str
    model: type[BaseModel]
    table: Table | None = None
    row: Callable[[dict[str, Any]], tuple[Any, ...]] | None = None  # when not column by column

    @cached_property
    def _adapter(self) -> TypeAdapter[list[Any]]:
        return TypeAdapter(list[self.model])  # type: ignore[name-defined]

    def decode(self, value: bytes) -> list[Any]:
        """The typed items of one Kafka record."""
        return self._adapter.validate_json(value)

    @staticmethod
    def encode(items: Sequence[BaseModel]) -> bytes:
        """One Kafka record of ``items``: a JSON array, the unit processors and the sink take."""
        return b"[" + b",".join(i.model_dump_json().encode() for i in items) + b"]"

    def rows(self, key: bytes | None, timestamp_ms: int, value: bytes) -> list[tuple[Any, ...]]:
        """Table rows of one Kafka record (the sink's hot path: plain JSON, no model)."""
        assert self.table is not None
        table = self.table
        items: list[dict[str, Any]] = json.loads(value)
        if self.row is not None:
            return [self.row(item) for item in items]
        if not table.extra:
            rows = [tuple(item.get(c) for c in table.columns) for item in items]
        else:
            site = key.decode() if key else None
            ingest = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
            fields = table.columns[1:-1]
            rows = [(site, *(item.get(c) for c in fields), ingest) for item in items]
        if table.json_columns:
            rows = [_json_encoded(row, table.json_columns) for row in rows]
        return rows


def _json_encoded(row: tuple[Any, ...], positions: tuple[int, ...]) -> tuple[Any, ...]:
    out = list(row)
    for n in positions:
        if out[n] is not None:
            out[n] = json.dumps(out[n], separators=(",", ":"))
    return tuple(out)


@dataclass(frozen=True)
class Migration:
    """One versioned step of a kind's schema: tables made from their models, then SQL."""

    version: str
    tables: tuple[Table, ...] = ()
    sql: str = ""
    postgres: str = ""  # only without TimescaleDB
    timescaledb: str = ""  # only with TimescaleDB


@dataclass(frozen=True)
class LiveView:
    """What the demo shows of a kind: one query (as the read-only role) and its headings."""

    title: str
    sql: str
    columns: tuple[str, ...]
    # settings ("section.name") passed to ``sql`` as its %s parameters, in order: a threshold
    # shown beside the value it judges
    params: tuple[str, ...] = ()

    def parameters(self, settings: Any) -> list[Any]:
        """The values of ``params`` in ``settings``."""
        out = []
        for path in self.params:
            value = settings
            for part in path.split("."):
                value = getattr(value, part)
            out.append(value)
        return out


class KindSettings(BaseModel):
    """The settings every kind has, in the section named after it (``{kind}.…``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def common_fields(earliest: datetime, silence: float) -> dict[str, Any]:
    """The fields of every kind's own section, with that kind's defaults."""
    return {
        "earliest_ts": (AwareDatetime, Field(
            earliest, description="Readings stamped earlier are refused: before it, the "
            "instrument's clock is wrong (a reset clock reads 1970 or 2000), not history")),
        "close_after_silence_seconds": (float, Field(
            silence, gt=0, description="A windowed result whose source has sent nothing for "
            "this long (wall clock) is closed and judged as it is, incomplete if so")),
    }


class ComponentSettings(BaseModel):
    """What every component's settings section holds (``{component}.…``): its MQTT login
    and its health endpoint. A component adds its own fields (a listening port …)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(description="Its MQTT login")
    password: SecretStr | None = Field(None, description="Generated into .fjsense/ if unset")
    health_port: int = Field(ge=0, le=65535, description="Its health endpoint; 0 serves none")


@dataclass(frozen=True)
class Component:
    """A process a kind needs beyond the platform's bridge, worker, sink and notifier, e.g. a
    gateway that speaks a device protocol other than MQTT. ``fjsense NAME`` runs it; ``fjsense
    run``, ``fjsense health``, the broker's logins and ACL and the compose file's services
    iterate components, so none of them names one."""

    name: str  # its command, its settings section, its log and its dead letters' stage
    help: str  # one line for ``fjsense --help``
    settings_model: type[ComponentSettings]
    # () -> (settings) -> None: runs it in the foreground until SIGTERM
    run: Callable[[], Callable[[Any], None]]
    # it publishes the kind's readings for devices that cannot speak MQTT: its login may
    # write the kind's device topics
    publishes: bool = True
    # devices send to it over TCP at its section's ``host``:``port``: simulated messages and
    # replayed dead letters of its stage go there, as they came
    tcp: bool = False


@dataclass(frozen=True)
class SensorKind:
    """A family of devices and everything the platform does with their readings."""

    name: str
    reading: type[Reading]
    table: Table  # of readings: ``raw_table(name, reading)``
    device_fields: type[BaseModel] = NoFields
    site_fields: type[BaseModel] = NoFields
    derived: tuple[Stream, ...] = ()
    settings_section: str | None = None
    settings_model: type[BaseModel] | None = None
    migrations: tuple[Migration, ...] = ()
    # its stage code, each a function of no arguments that imports and returns it (see the
    # module's docstring); read through ``load``
    processors: Callable[[], Sequence[Callable[..., Any]]] | None = None  # (settings, catalog)
    dashboards: Callable[[], Sequence[Callable[..., Any]]] | None = None  # (settings) -> board
    # (settings) -> SQL of its stations' layer of the ocean's one map (dashboards/ocean_map.py)
    ocean_map: Callable[[], Callable[..., str]] | None = None
    # (conn, settings, catalog, period) -> its sections of the province's report (fjsense report)
    report: Callable[[], Sequence[Callable[..., Any]]] | None = None
    simulator: Callable[[], type] | None = None  # honouring simulators.contract.Simulator
    simulator_aliases: tuple[str, ...] = ()  # other names of ``fjsense simulate KIND``
    commands: Callable[[], Sequence[Callable[..., Any]]] | None = None  # add_parser(subparsers)
    # readers of recorded files of its instruments, for ``fjsense replay``: each takes a
    # file's lines and returns its rows, or None when the file is not of its format
    recordings: Callable[[], Sequence[Callable[..., Any]]] | None = None
    recording_formats: str = ""  # what those readers read, said in a few words
    # (settings, now, span) -> str: what the demo prepares before its components start (e.g.
    # a tide station's constituents), said in one line
    demo_setup: Callable[[], Callable[..., str]] | None = None
    # processes of its own beyond the platform's (the HJ 212 gateway of pollution monitors)
    components: tuple[Component, ...] = ()
    # its shipped alert rules (YAML, as a rule file's ``rules``), merged with the operator's
    rules: Path | None = None
    # the kind's readings are sent by the devices of another kind (a cell sends its KPIs and
    # its measurement reports, one login): the catalog lists them under that kind
    device_kind: str | None = None
    live_view: LiveView | None = None
    # defaults of the section named after the kind (``{kind}.earliest_ts`` …): what suits the
    # instrument (a tide gauge's record is centuries old, a 5G cell's no older than 5G)
    earliest_ts: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    close_after_silence_seconds: float = 3600.0

    @cached_property
    def sections(self) -> dict[str, type[BaseModel]]:
        """Its settings sections by name: the one named after the kind, which holds every
        kind's common settings (and its own, when its own section has its name), and its own
        under another name (power's ``pue``)."""
        common = common_fields(self.earliest_ts, self.close_after_silence_seconds)
        own = self.settings_model
        components = {c.name: c.settings_model for c in self.components}
        if own is not None and self.settings_section == self.name:
            return {self.name: create_model(own.__name__, __base__=own, __doc__=own.__doc__,
                                            **common)} | components
        named = create_model(f"{self.name.title()}Settings", __base__=KindSettings,
                             __doc__=f"Settings every kind has, for kind {self.name!r}",
                             **common)
        out: dict[str, type[BaseModel]] = {self.name: named}
        if own is not None and self.settings_section is not None:
            out[self.settings_section] = own
        return out | components

    def load(self, part: str) -> Any:
        """Its stage code ``part`` (``processors``, ``dashboards``, ``simulator``,
        ``commands``, ``recordings``, ``demo_setup``, ``ocean_map``, ``report``), imported now: () or None when it
        declares none. An import error names the kind, not only the module."""
        getter = getattr(self, part)
        if getter is None:
            return None if part in ("simulator", "demo_setup", "ocean_map") else ()
        try:
            return getter()
        except ImportError as exc:
            raise ImportError(f"kind {self.name!r}: its {part} cannot be imported: {exc}"
                              ) from exc

    def common(self, settings: Any) -> Any:
        """The section named after this kind: ``earliest_ts``, ``close_after_silence_seconds``."""
        return getattr(settings, self.name)

    def sent_by(self, device_kind: str) -> bool:
        """Whether devices of ``device_kind`` publish this kind's readings."""
        return device_kind in (self.name, self.device_kind)

    @property
    def raw_topic(self) -> str:
        """Kafka topic of validated readings of this kind (keyed by site)."""
        return f"fj.raw.{self.name}"

    @property
    def mqtt_filter(self) -> str:
        """The topics its devices publish on (the bridge subscribes to it)."""
        return f"fj/{self.name}/+/+"

    def mqtt_topic(self, site: str, device: str) -> str:
        """The one topic a device of ``site`` may publish on (its ACL line)."""
        return f"fj/{self.name}/{site}/{device}"

    @cached_property
    def raw(self) -> Stream:
        """The raw stream: readings as devices sent them, site as key, ingest time as timestamp."""
        return Stream(self.raw_topic, self.reading, self.table)

    @property
    def streams(self) -> tuple[Stream, ...]:
        """Its raw stream then its derived ones: the topics made and the tables the sink fills."""
        return (self.raw, *self.derived)

    def section(self, settings: Any) -> Any:
        """This kind's settings section (a ``settings_model``) of ``settings``."""
        if self.settings_section is None:
            raise LookupError(f"kind {self.name!r} declares no settings section")
        return getattr(settings, self.settings_section)

