"""Turns one MQTT message (one reading or a JSON array of them) into the readings to forward
and a dead letter, with its reason, for every reading that is refused.

Readings are validated from bytes by the kind's strict model, so a valid payload is forwarded
as the device sent it: no decode-and-encode on the fast path. A reading in an array is judged
on its own; a refused one is dead-lettered with its index and the rest go on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import TypeAdapter, ValidationError

from fjsense.catalog import Catalog, Device, Site
from fjsense.deadletter import DeadLetter
from fjsense.registry import Reading, SensorKind
from fjsense.settings import Settings

KEPT_BYTES = 64 * 1024  # of an oversized message, what its dead letter keeps
NOT_JSON = ("json_invalid", "json_type")
Refuse = Callable[..., None]  # (reason, part=payload): dead-letters one refused part


@dataclass
class Checked:
    """What one message yields: the forwardable JSON of its valid readings (array items joined
    by commas, no brackets), how many they are, and a dead letter per refused part; and, for
    the device's clock, the newest timestamp of its schema-valid readings, refused ones too."""

    kind: SensorKind | None = None
    site: str = ""
    good: bytes = b""
    count: int = 0
    letters: list[DeadLetter] = field(default_factory=list)
    device: str = ""
    newest: datetime | None = None

    def stamped(self, reading: Reading) -> None:
        """Note a schema-valid reading's timestamp, if it is the topic's device's own."""
        if reading.device == self.device and (self.newest is None or reading.ts > self.newest):
            self.newest = reading.ts


def schema_problem(exc: ValidationError) -> str:
    """One line per schema error; the JSON itself being broken is said plainly."""
    errors = exc.errors(include_url=False)
    if any(e["type"] in NOT_JSON for e in errors):
        return f"payload is not UTF-8 JSON: {errors[0]['msg']}"
    if any(e["type"] == "model_type" and not e["loc"] for e in errors):
        return "payload is not a JSON object"
    return "schema: " + "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in errors)


class Validator:
    """Checks topic, catalog, JSON, schema, time and physics, per reading."""

    def __init__(self, catalog: Catalog, kinds: dict[str, SensorKind], settings: Settings):
        self.catalog = catalog
        self.kinds = kinds
        self.max_future = timedelta(seconds=settings.ingest.max_future_seconds)
        self.max_bytes = settings.ingest.max_message_bytes
        # per kind: what suits its instrument (a tide gauge's history is old, a meter's 1970 a
        # reset clock)
        self.earliest = {name: k.common(settings).earliest_ts for name, k in kinds.items()}
        self.arrays = {name: TypeAdapter(list[k.reading]) for name, k in kinds.items()}  # type: ignore[name-defined]

    def __call__(self, topic: str, payload: bytes, received_at: datetime) -> Checked:
        out = Checked()

        def refuse(reason: str, part: bytes = payload) -> None:
            out.letters.append(DeadLetter.of("ingest", reason, topic, part, received_at))

        if len(payload) > self.max_bytes:
            refuse(f"payload of {len(payload)} bytes is larger than ingest.max_message_bytes "
                   f"({self.max_bytes}); sha256 {hashlib.sha256(payload).hexdigest()}, the "
                   f"first {KEPT_BYTES} bytes kept", payload[:KEPT_BYTES])
            return out
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "fj" or parts[1] not in self.kinds:
            refuse(f"topic {topic!r} is not fj/<kind>/<site>/<device> of a known kind")
            return out
        kind, site_id, device_id = self.kinds[parts[1]], parts[2], parts[3]
        found = self.catalog.device(device_id)
        if found is None:
            refuse(f"unknown device {device_id!r}: not in the station catalog")
            return out
        site, device = found
        if site.id != site_id or not kind.sent_by(device.kind):
            refuse(f"catalog has {device_id!r} as a {device.kind} device of site {site.id!r}")
            return out
        out.kind, out.site, out.device = kind, site.id, device.id
        body = payload.strip()
        if not body.startswith(b"["):
            try:
                reading = kind.reading.model_validate_json(payload)
            except ValidationError as exc:
                refuse(schema_problem(exc))
                return out
            out.stamped(reading)
            kept, whole = self.accept(reading, kind.name, "", site, device, received_at,
                                      refuse, payload)
            if kept is not None:
                out.good, out.count = body if whole else kept.model_dump_json(exclude_unset=True).encode(), 1
            return out
        try:
            readings = self.arrays[kind.name].validate_json(payload)
        except ValidationError:
            self._one_by_one(kind, site, device, payload, received_at, out, refuse)
            return out
        if not readings:
            refuse("payload is an empty array: no readings")
            return out
        good: list[Reading] = []
        all_whole = True
        for n, reading in enumerate(readings):
            out.stamped(reading)
            kept, whole = self.accept(reading, kind.name, f"reading [{n}]: ", site, device,
                                      received_at, refuse, None)
            all_whole = all_whole and whole
            if kept is not None:
                good.append(kept)
        if all_whole:
            out.good = body[1:-1].strip()  # the array as sent
        else:
            out.good = b",".join(r.model_dump_json(exclude_unset=True).encode() for r in good)
        out.count = len(good)
        return out

    def _one_by_one(self, kind: SensorKind, site: Site, device: Device, payload: bytes,
                    received_at: datetime, out: Checked, refuse: Refuse) -> None:
        """The slow path of an array with a bad reading: each item validated on its own."""
        try:
            items = json.loads(payload)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # deep nesting too
            refuse(f"payload is not UTF-8 JSON: {exc}")
            return
        good: list[bytes] = []
        for n, item in enumerate(items):
            raw = json.dumps(item).encode()
            try:
                reading = kind.reading.model_validate_json(raw)
            except ValidationError as exc:
                refuse(f"reading [{n}]: {schema_problem(exc)}", raw)
                continue
            out.stamped(reading)
            kept, _ = self.accept(reading, kind.name, f"reading [{n}]: ", site, device,
                                  received_at, refuse, raw)
            if kept is not None:
                good.append(kept.model_dump_json(exclude_unset=True).encode())
        out.good, out.count = b",".join(good), len(good)

    def accept(self, reading: Reading, kind: str, prefix: str, site: Site, device: Device,
               received_at: datetime, refuse: Refuse, raw: bytes | None
               ) -> tuple[Reading | None, bool]:
        """(what of the reading goes on, whether it goes on whole); every refusal, of the
        reading or of a part of it, is dead-lettered with ``prefix`` before its reason."""
        problem = self.problem(reading, kind, site, device, received_at)
        if problem is not None:
            refuse(prefix + problem, raw if raw is not None else reading.model_dump_json().encode())
            return None, False
        kept, refused = reading.split()
        for reason, part in refused:
            refuse(prefix + reason, part)
        return kept, not refused

    def problem(self, reading: Reading, kind: str, site: Site, device: Device,
                received_at: datetime) -> str | None:
        """Why a schema-valid reading is refused, or None: topic, time, then physics."""
        if reading.device != device.id:
            return f"device {reading.device!r} published under {device.id!r}'s topic"
        if reading.ts > received_at + self.max_future:
            return f"timestamp {reading.ts.isoformat()} is in the future"
        earliest = self.earliest[kind]
        if reading.ts < earliest:
            return (f"timestamp {reading.ts.isoformat()} is before {kind}.earliest_ts "
                    f"({earliest.isoformat()}): a wrong clock, or set "
                    f"FJSENSE_{kind.upper()}__EARLIEST_TS for older records")
        problem = reading.physical_problem(device.spec)
        return None if problem is None else f"impossible value: {problem}"
