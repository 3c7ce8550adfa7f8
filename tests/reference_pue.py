"""An independent PUE computation from stored counters, to check the stream processor.

Written apart from ``kinds.power.pue`` on purpose: it builds each meter's *continuous* counter
(a reset or implausible jump replaced by the trapezoid of its kW readings), interpolates it at
window boundaries, and takes rolling values by telescoping over the whole span.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import psycopg

from fjsense.catalog import Catalog


class ContinuousCounter:
    def __init__(self, rows: list[tuple[float, float, float]], rated_kw: float | None) -> None:
        self.times: list[float] = []
        self.values: list[float] = []
        total = 0.0
        prev = None
        for t, kwh, kw in sorted(rows):
            if prev is not None:
                hours = (t - prev[0]) / 3600
                step = kwh - prev[1]
                too_big = rated_kw is not None and step > rated_kw * hours * 1.05 + 1e-9
                total += (prev[2] + kw) / 2 * hours if step < 0 or too_big else step
            self.times.append(t)
            self.values.append(total)
            prev = (t, kwh, kw)

    def at(self, t: float) -> float:
        import bisect

        i = bisect.bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            return self.values[i]
        t0, t1 = self.times[i - 1], self.times[i]
        v0, v1 = self.values[i - 1], self.values[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def counters(conn: psycopg.Connection, catalog: Catalog) -> dict[str, dict[str, list[ContinuousCounter]]]:
    """Per site, per circuit: the continuous counters of its meters, from ``power_readings``."""
    rows: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for device, ts, kwh, kw in conn.execute("SELECT device, ts, kwh, kw FROM power_readings"):
        rows[device].append((ts.timestamp(), kwh, kw))
    out: dict[str, dict[str, list[ContinuousCounter]]] = defaultdict(lambda: defaultdict(list))
    for device, points in rows.items():
        site, meta = catalog.device(device)  # type: ignore[misc]
        out[site.id][meta.spec.circuit].append(ContinuousCounter(points, meta.spec.rated_kw))
    return out


def energy(meters: list[ContinuousCounter], start: datetime, end: datetime) -> float:
    return sum(m.at(end.timestamp()) - m.at(start.timestamp()) for m in meters)
