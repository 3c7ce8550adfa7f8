"""Readers of recorded instrument files, detected from their content, for ``fjsense replay``.

Each reader turns a file into rows of one sensor kind: the row's line number, its event time
(UTC) and its values by wire name, missing values left out (never stored as numbers). A line
that cannot be read is reported with its number and the reason; the others go on. Buoys:
NDBC stdmet and ocean; tide gauges: UHSLC hourly sea level and NOAA CO-OPS CSV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Row:
    line: int
    ts: datetime
    values: dict[str, float]


@dataclass
class Recording:
    """What a file holds: its format, the kind it feeds, rows in time order, unreadable lines."""

    format: str
    kind: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "line N: reason"


# NDBC names → wire names (stdmet and ocean). DPD, the dominant wave period, is the period
# carried: APD (average period) has no wire field.
NDBC_WIRE = {
    "WDIR": "wind_dir_deg", "WSPD": "wind_speed_m_s", "GST": "wind_gust_m_s",
    "WVHT": "wave_height_m", "DPD": "wave_period_s", "MWD": "wave_dir_deg",
    "PRES": "pressure_hpa", "BAR": "pressure_hpa", "ATMP": "air_temp_c", "WTMP": "water_temp_c",
    "DEPTH": "depth_m", "OTMP": "water_temp_c", "COND": "conductivity_ms_cm",
    "SAL": "salinity_psu", "O2%": "do_sat_pct", "O2PPM": "do_mg_l", "CLCON": "chl_ug_l",
    "TURB": "turbidity_ntu", "PH": "ph", "EH": "redox_mv",
}
# NDBC's fills: a field of nines whose width depends on the column (999, 99.0, 9999.0, ...)
NDBC_FILL = {"WDIR": 999, "MWD": 999, "WSPD": 99, "GST": 99, "WVHT": 99, "DPD": 99, "APD": 99,
             "PRES": 9999, "BAR": 9999, "ATMP": 999, "WTMP": 999, "DEWP": 999, "VIS": 99,
             "TIDE": 99, "PTDY": 99, "DEPTH": 9999, "OTMP": 999, "COND": 999, "SAL": 999,
             "O2%": 999, "O2PPM": 99, "CLCON": 999, "TURB": 999, "PH": 99, "EH": 9999}


def _ndbc(lines: list[str], names: list[str], first: int, fmt: str) -> Recording:
    """Rows of an NDBC table whose data start at line ``first`` (1-based), parsed by position
    (realtime2 headers name MM twice: month and minute)."""
    out = Recording(fmt, "buoy")
    times = 5 if len(names) > 4 and names[4].upper() in ("MM", "MN") else 4
    columns = [(i, n) for i, n in enumerate(names) if i >= times and n in NDBC_WIRE]
    for number, line in enumerate(lines[first - 1:], start=first):
        parts = line.split()
        if not parts or line.startswith("#"):
            continue
        if len(parts) != len(names):
            out.problems.append(f"line {number}: {len(parts)} fields, the header has "
                                f"{len(names)}")
            continue
        try:
            year = int(parts[0])
            year += 1900 if year < 100 else 0
            ts = datetime(year, int(parts[1]), int(parts[2]), int(parts[3]),
                          int(parts[4]) if times == 5 else 0, tzinfo=UTC)
            values: dict[str, float] = {}
            for i, name in columns:
                text = parts[i]
                if text == "MM":
                    continue
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError(f"{name} {text!r} is not a finite number")
                if value != NDBC_FILL.get(name):
                    values[NDBC_WIRE[name]] = value
        except ValueError as exc:
            out.problems.append(f"line {number}: {exc}")
            continue
        out.rows.append(Row(number, ts, values))
    out.rows.sort(key=lambda r: r.ts)  # realtime2 files are newest first
    return out


def _names(header: str) -> list[str]:
    return header.lstrip("#").split()


def read_ndbc(lines: list[str]) -> Recording | None:
    """NDBC historical stdmet (one header line), realtime2 stdmet or ocean (two ``#`` lines)."""
    if not lines:
        return None
    names = _names(lines[0])
    if not names or names[0] not in ("YY", "YYYY"):
        return None
    realtime = lines[0].startswith("#") and len(lines) > 1 and lines[1].startswith("#")
    table = "ocean" if "OTMP" in names or "O2PPM" in names else "stdmet"
    fmt = f"NDBC {'realtime2' if realtime else 'historical'} {table}"
    return _ndbc(lines, names, 3 if realtime else 2, fmt)


UHSLC_EPOCH = datetime(1700, 1, 1, tzinfo=UTC)
UHSLC_FILL = -32767  # UHSLC's missing value (mm); anything at or below -9999 is a fill


def _days(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 36500 < value < 146000 else None  # 1800 to 2100 in days since 1700


def read_uhslc(lines: list[str]) -> Recording | None:
    """UHSLC hourly sea level in two columns: days since 1700-01-01 00:00 UTC, millimetres."""
    first = next((line.split() for line in lines if line.strip()), [])
    if len(first) != 2 or _days(first[0]) is None:
        return None
    out = Recording("UHSLC hourly sea level (days since 1700, mm)", "tide")
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        days = _days(parts[0]) if len(parts) == 2 else None
        try:
            if days is None:
                raise ValueError(f"not two columns (days since 1700, mm): {line[:40]!r}")
            mm = float(parts[1])
            if not math.isfinite(mm):
                raise ValueError(f"level {parts[1]!r} is not a finite number")
        except ValueError as exc:
            out.problems.append(f"line {number}: {exc}")
            continue
        # hourly stamps to the second: days are written to 7 decimals
        ts = datetime.fromtimestamp(round(UHSLC_EPOCH.timestamp() + days * 86400), UTC)
        out.rows.append(Row(number, ts, {} if mm <= -9999 else {"level_m": mm / 1000}))
    out.rows.sort(key=lambda r: r.ts)
    return out


COOPS_TIME = ("t", "date time")
COOPS_LEVEL = ("v", "water level", "prediction")


def read_coops(lines: list[str]) -> Recording | None:
    """NOAA CO-OPS water levels as CSV (``t,v,s`` or ``Date Time, Water Level, Sigma, …``),
    metres, times in GMT (what the API gives with ``units=metric&time_zone=gmt``)."""
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
            ts = datetime.strptime(parts[0], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
            values = {}
            if len(parts) > 1 and parts[1]:
                level = float(parts[1])
                if not math.isfinite(level):
                    raise ValueError(f"level {parts[1]!r} is not a finite number")
                values["level_m"] = level
        except ValueError as exc:
            out.problems.append(f"line {number}: {exc}")
            continue
        out.rows.append(Row(number, ts, values))
    out.rows.sort(key=lambda r: r.ts)
    return out


READERS: list[Callable[[list[str]], Recording | None]] = [read_ndbc, read_uhslc, read_coops]


def read_recording(path: Path) -> Recording:
    """The file's rows, by the first reader that recognises its header; ValueError if none."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for reader in READERS:
        found = reader(lines)
        if found is not None:
            return found
    raise ValueError(f"{path}: not a format replay knows (NDBC stdmet or ocean, UHSLC hourly "
                     f"sea level, NOAA CO-OPS water level CSV); first line: "
                     f"{lines[0][:80] if lines else '(empty file)'!r}")


def rows_of(recording: Recording) -> Iterator[Row]:
    """Rows that carry at least one value."""
    return (row for row in recording.rows if row.values)
