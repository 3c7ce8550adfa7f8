"""QC-annotates each thermometer reading and emits 5-minute means in event time.

The thermometers of a lab publish over their own connections, so one may run minutes ahead of
the other on the way in. A window is closed once every thermometer of the lab has passed its
end (the lab's watermark is the earliest of their newest readings), and a thermometer silent
``silent_after_seconds`` behind the newest, or never heard by then, no longer holds it open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fjsense.catalog import Catalog
from fjsense.settings import Settings
from streams.contract import Batch, Output
from tests.thermometer.kind import KIND, MEANS, OBSERVED, TempMean, TempObservation


class ThermometerProcessor:
    name = "thermometer"
    source = KIND.raw_topic

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config = KIND.section(settings)
        self.devices = {site.id: [d.id for d in site.devices]
                        for site in catalog.sites_of(KIND.name)}

    def watermark(self, site: str, state: dict[str, Any]) -> float:
        """The earliest newest-reading time among the lab's thermometers still speaking."""
        latest: dict[str, float] = state["latest"]
        newest = max(latest.values())
        times = [latest.get(device, state["first"]) for device in self.devices[site]]
        return min((t for t in times if t >= newest - self.config.silent_after_seconds),
                   default=newest)

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        out: list[Output] = []
        width = self.config.window_seconds
        windows: dict[str, list[float]] = state.setdefault("windows", {})  # start → [sum, n]
        latest: dict[str, float] = state.setdefault("latest", {})  # device → newest reading
        for r in batch.items:
            suspect = r.temp_c > self.config.suspect_above_c
            out.append(Output(OBSERVED.topic, batch.key, TempObservation(
                site=batch.key, device=r.device, seq=r.seq, ts=r.ts, temp_c=r.temp_c,
                qc=3 if suspect else 1, qc_tests="gross_range" if suspect else None)))
            t = r.ts.timestamp()
            state.setdefault("first", t)
            latest[r.device] = max(latest.get(r.device, t), t)
            start = str(int(t // width * width))
            if int(start) < state.get("closed_until", 0):
                continue  # its window was emitted already
            acc = windows.setdefault(start, [0.0, 0])
            acc[0] += r.temp_c
            acc[1] += 1
        if not latest:
            return out
        watermark = self.watermark(batch.key, state)
        for start in sorted(windows, key=int):
            if int(start) + width > watermark:
                break
            total, n = windows.pop(start)
            state["closed_until"] = int(start) + width
            out.append(Output(MEANS.topic, batch.key, TempMean(
                site=batch.key, window_start=datetime.fromtimestamp(int(start), UTC),
                window_end=datetime.fromtimestamp(int(start) + width, UTC),
                readings=int(n), mean_c=total / n)))
        return out
