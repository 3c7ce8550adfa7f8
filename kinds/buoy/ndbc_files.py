"""NDBC buoy files: historical ``stdmet`` (one header line) and realtime2 ``stdmet`` and
``ocean`` (two ``#`` header lines, newest row first, ``MM`` for missing)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from simulators.recorded import Recording, Row

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
