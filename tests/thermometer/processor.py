"""QC-annotates each thermometer reading and emits 5-minute means in event time."""

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

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        out: list[Output] = []
        width = self.config.window_seconds
        windows: dict[str, list[float]] = state.setdefault("windows", {})  # start → [sum, n]
        for r in batch.items:
            suspect = r.temp_c > self.config.suspect_above_c
            out.append(Output(OBSERVED.topic, batch.key, TempObservation(
                site=batch.key, device=r.device, seq=r.seq, ts=r.ts, temp_c=r.temp_c,
                qc=3 if suspect else 1, qc_tests="gross_range" if suspect else None)))
            t = r.ts.timestamp()
            start = str(int(t // width * width))
            if int(start) < state.get("closed_until", 0):
                continue  # its window was emitted already
            acc = windows.setdefault(start, [0.0, 0])
            acc[0] += r.temp_c
            acc[1] += 1
            state["watermark"] = max(state.get("watermark", t), t)
        for start in sorted(windows, key=int):
            if int(start) + width > state["watermark"]:
                break
            total, n = windows.pop(start)
            state["closed_until"] = int(start) + width
            out.append(Output(MEANS.topic, batch.key, TempMean(
                site=batch.key, window_start=datetime.fromtimestamp(int(start), UTC),
                window_end=datetime.fromtimestamp(int(start) + width, UTC),
                readings=int(n), mean_c=total / n)))
        return out
