"""Hourly sea-level files of tide gauges: UHSLC's (days since 1700 in two columns, and the
fast-delivery CSV of year, month, day, hour, millimetres) and NOAA CO-OPS water levels (CSV
``t,v,s`` or ``Date Time, Water Level, …``, and the JSON API's ``{"data": [{"t", "v", …}]}``).

Levels leave in metres. Times are UTC (CO-OPS with ``time_zone=gmt``), in the native form or
in ISO 8601; a level missing or filled (UHSLC's −32767) is left out, never stored as a number.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from simulators.recorded import Recording, Row, parse_time

UHSLC_EPOCH = datetime(1700, 1, 1, tzinfo=UTC)
UHSLC_FILL = -9999  # UHSLC's missing value is -32767 (mm); anything at or below this is a fill


def _days(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 36500 < value < 146000 else None  # 1800 to 2100 in days since 1700


def _is_time(text: str) -> bool:
    """Whether a first field is an ISO 8601 time (a two-column file written with ISO times)."""
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


def _finite(text: str, what: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{what} {text!r} is not a finite number")
    return value


def _millimetres(text: str) -> dict[str, float]:
    mm = _finite(text, "level")
    return {} if mm <= UHSLC_FILL else {"level_m": mm / 1000}


def read_uhslc(lines: list[str]) -> Recording | None:
    """UHSLC hourly sea level in two columns: days since 1700-01-01 00:00 UTC (or an ISO 8601
    time), millimetres."""
    first = next((line.split() for line in lines if line.strip()), [])
    if len(first) != 2 or (_days(first[0]) is None and not _is_time(first[0])):
        return None
    out = Recording("UHSLC hourly sea level (days since 1700, mm)", "tide")
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 2:
                raise ValueError(f"not two columns (days since 1700, mm): {line[:40]!r}")
            days = _days(parts[0])
            # hourly stamps to the second: days are written to 7 decimals
            ts = (parse_time(parts[0]) if days is None else
                  datetime.fromtimestamp(round(UHSLC_EPOCH.timestamp() + days * 86400), UTC))
            out.rows.append(Row(number, ts, _millimetres(parts[1])))
        except ValueError as exc:
            out.problems.append(f"line {number}: {exc}")
    out.rows.sort(key=lambda r: r.ts)
    return out


def _fast_row(parts: list[str]) -> tuple[datetime, str]:
    """(time, mm) of a fast-delivery line: year, month, day, hour, mm; or ISO time, mm."""
    if len(parts) == 5:
        year, month, day, hour = (int(p) for p in parts[:4])
        return datetime(year, month, day, hour, tzinfo=UTC), parts[4]
    if len(parts) == 2:
        return parse_time(parts[0]), parts[1]
    raise ValueError(f"{len(parts)} fields, not year,month,day,hour,mm")


def read_uhslc_fast(lines: list[str]) -> Recording | None:
    """UHSLC fast-delivery (and research-quality) hourly CSV: ``year,month,day,hour,mm`` with
    no header, −32767 for missing."""
    first = next((line for line in lines if line.strip()), "")
    parts = [p.strip() for p in first.split(",")]
    if len(parts) != 5 or not all(p.lstrip("-").isdigit() for p in parts):
        return None
    out = Recording("UHSLC fast-delivery hourly CSV (year,month,day,hour,mm)", "tide")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            ts, mm = _fast_row([p.strip() for p in line.split(",")])
            out.rows.append(Row(number, ts, _millimetres(mm)))
        except ValueError as exc:
            out.problems.append(f"line {number}: {exc}")
    out.rows.sort(key=lambda r: r.ts)
    return out


COOPS_TIME = ("t", "date time")
COOPS_LEVEL = ("v", "water level", "prediction")
COOPS_NATIVE = "%Y-%m-%d %H:%M"


def _coops_level(text: str | None) -> dict[str, float]:
    """A CO-OPS level in metres; empty is missing."""
    if text is None or not str(text).strip():
        return {}
    return {"level_m": _finite(str(text), "level")}


def read_coops(lines: list[str]) -> Recording | None:
    """NOAA CO-OPS water levels as CSV (``t,v,s`` or ``Date Time, Water Level, Sigma, …``),
    metres, times in GMT (``units=metric&time_zone=gmt``) or ISO 8601."""
    if not lines:
        return None
    names = [n.strip().lower() for n in lines[0].split(",")]
    if len(names) < 2 or names[0] not in COOPS_TIME or names[1] not in COOPS_LEVEL:
        return None
    out = Recording("NOAA CO-OPS water level CSV (m, GMT)", "tide")
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            ts = parse_time(parts[0], COOPS_NATIVE)
            out.rows.append(Row(number, ts, _coops_level(parts[1] if len(parts) > 1 else None)))
        except ValueError as exc:
            out.problems.append(f"line {number}: {exc}")
    out.rows.sort(key=lambda r: r.ts)
    return out


def read_coops_json(lines: list[str]) -> Recording | None:
    """The CO-OPS data API's JSON: ``{"metadata": {…}, "data": [{"t", "v", "s", "f", "q"}]}``
    (or ``"predictions": [{"t", "v"}]``); an error answer (``{"error": {"message"}}``) is said
    as such. Items are numbered from 1 in the problems."""
    text = "\n".join(lines).lstrip()
    if not text.startswith("{"):
        return None
    try:
        doc: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    error = doc.get("error")
    if isinstance(error, dict):
        message = str(error.get("message", "")).strip()
        # the file's content is wrong, not a type: a ValueError like every reader's
        raise ValueError(f"the CO-OPS API answered an error: {message}")  # noqa: TRY004
    items = doc.get("data", doc.get("predictions"))
    if not isinstance(items, list):
        return None
    out = Recording("NOAA CO-OPS water level JSON (m, GMT)", "tide")
    for number, item in enumerate(items, start=1):
        try:
            if not isinstance(item, dict) or "t" not in item:
                raise ValueError("not an object with a time 't'")
            ts = parse_time(str(item["t"]), COOPS_NATIVE)
            out.rows.append(Row(number, ts, _coops_level(item.get("v"))))
        except ValueError as exc:
            out.problems.append(f"item {number}: {exc}")
    out.rows.sort(key=lambda r: r.ts)
    return out
