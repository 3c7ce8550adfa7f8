"""Turns one MQTT message into either a raw record for Kafka or a reason to refuse it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from fjsense.catalog import Catalog
from fjsense.kinds import SensorKind

_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Accepted:
    kind: SensorKind
    site: str
    record: dict[str, Any]

    def encode(self) -> bytes:
        return json.dumps(self.record, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Rejected:
    reason: str


def validate(
    topic: str,
    payload: bytes,
    catalog: Catalog,
    kinds: dict[str, SensorKind],
    received_at: datetime,
    max_future: timedelta,
) -> Accepted | Rejected:
    """Check topic, JSON, schema, catalog, time and physics, in that order; first failure wins."""
    parts = topic.split("/")
    if len(parts) != 4 or parts[0] != "fj" or parts[1] not in kinds:
        return Rejected(f"topic {topic!r} is not fj/<kind>/<site>/<device> of a known kind")
    kind, site_id, device_id = kinds[parts[1]], parts[2], parts[3]
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejected(f"payload is not UTF-8 JSON: {exc}")
    if not isinstance(data, dict):
        return Rejected("payload is not a JSON object")
    try:
        reading = kind.reading.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in exc.errors()
        )
        return Rejected(f"schema: {problems}")
    if reading.device != device_id:
        return Rejected(f"device {reading.device!r} published under {device_id!r}'s topic")
    found = catalog.device(device_id)
    if found is None:
        return Rejected(f"unknown device {device_id!r}: not in the station catalog")
    site, device = found
    if site.id != site_id or device.kind != kind.name:
        return Rejected(f"catalog has {device_id!r} as a {device.kind} device of site {site.id!r}")
    if reading.ts > received_at + max_future:
        return Rejected(f"timestamp {reading.ts.isoformat()} is in the future")
    if reading.ts < _EARLIEST:
        return Rejected(f"timestamp {reading.ts.isoformat()} is before {_EARLIEST.year}")
    problem = reading.physical_problem(device)
    if problem is not None:
        return Rejected(f"impossible value: {problem}")
    record = {"site": site.id, **reading.model_dump(mode="json"),
              "ingest_ts": received_at.isoformat()}
    return Accepted(kind, site.id, record)
