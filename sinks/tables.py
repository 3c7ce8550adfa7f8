"""Which topic lands in which table, and how a record becomes a row."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fjsense import topics
from fjsense.kinds import registry


@dataclass(frozen=True)
class TableSpec:
    table: str
    columns: tuple[str, ...]
    to_row: Callable[[dict[str, Any]], tuple[Any, ...]]


def _by_columns(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    return lambda record: tuple(record[c] for c in columns)


def _dead_letter_row(record: dict[str, Any]) -> tuple[Any, ...]:
    payload = base64.b64decode(record["payload_b64"])
    return (record["received_at"], record["stage"], record["reason"], record["source"],
            payload, hashlib.sha256(payload).hexdigest())


PUE_COLUMNS = ("site", "window_start", "window_end", "facility_kwh", "it_kwh", "cooling_kwh",
               "pue", "pue_rolling", "instant_kw_ratio", "reason", "rolling_reason")
ALERT_COLUMNS = ("rule", "site", "state", "at", "value", "threshold", "severity", "summary",
                 "notify")
DEAD_LETTER_COLUMNS = ("received_at", "stage", "reason", "source", "payload", "payload_sha")


def table_specs() -> dict[str, TableSpec]:
    """Every topic the sink consumes, with its table."""
    specs = {
        kind.raw_topic: TableSpec(kind.table, kind.columns, _by_columns(kind.columns))
        for kind in registry().values()
    }
    specs[topics.PUE] = TableSpec("pue_windows", PUE_COLUMNS, _by_columns(PUE_COLUMNS))
    specs[topics.ALERTS] = TableSpec("alert_events", ALERT_COLUMNS, _by_columns(ALERT_COLUMNS))
    specs[topics.DEADLETTER] = TableSpec("dead_letters", DEAD_LETTER_COLUMNS, _dead_letter_row)
    return specs
