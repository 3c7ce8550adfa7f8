"""Grafana's PostgreSQL macros, expanded as Grafana does, so panel SQL can run outside Grafana.

Used by the tests (every panel query runs against a real database) and by anyone who wants to
try a panel's query in psql. Covers the macros fjsense's panels use and their close kin.
"""

from __future__ import annotations

import re
from datetime import datetime

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def interval_seconds(text: str) -> int:
    """``$__interval``'s text (``10m``, ``1h``) in seconds, as Grafana reads it."""
    match = re.fullmatch(r"'?(\d+)([smhd])'?", text.strip())
    if match is None:
        raise ValueError(f"not a Grafana interval: {text!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def expand(sql: str, start: datetime, end: datetime, interval: str = "1m",
           variables: dict[str, list[str]] | None = None) -> str:
    """``sql`` with Grafana's macros and ``$variables`` (multi-value, quoted) substituted."""
    for name, values in (variables or {}).items():
        quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
        sql = re.sub(r"\$\{" + name + r"\}|\$" + name + r"\b", quoted, sql)
    sql = sql.replace("$__interval_ms", str(interval_seconds(interval) * 1000))
    sql = sql.replace("$__interval", interval)
    frm, to = f"'{start.isoformat()}'", f"'{end.isoformat()}'"

    def group(match: re.Match[str], alias: bool) -> str:
        column, step = (part.strip() for part in match.group(1).split(",", 1))
        seconds = interval_seconds(step)
        expr = f"floor(extract(epoch from {column})/{seconds})*{seconds}"
        return f'{expr} AS "time"' if alias else expr

    sql = re.sub(r"\$__timeGroupAlias\(([^)]*)\)", lambda m: group(m, True), sql)
    sql = re.sub(r"\$__timeGroup\(([^)]*)\)", lambda m: group(m, False), sql)
    sql = re.sub(r"\$__timeFilter\(([^)]*)\)", lambda m: f"{m.group(1)} BETWEEN {frm} AND {to}",
                 sql)
    sql = sql.replace("$__timeFrom()", frm).replace("$__timeTo()", to)
    sql = re.sub(
        r"\$__unixEpochFilter\(([^)]*)\)",
        lambda m: f"{m.group(1)} >= {int(start.timestamp())} AND "
                  f"{m.group(1)} <= {int(end.timestamp())}",
        sql,
    )
    if "$__" in sql:
        raise ValueError(f"unexpanded Grafana macro in: {sql}")
    return sql
