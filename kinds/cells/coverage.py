"""Coverage from measurement reports, in two stages.

``CoverageParts`` (keyed by site) counts each site's samples per window and area (its cells'
district; each sample's own H3 hexagon) and sends the counts it holds for every window and
area a batch touched, keyed by area. A site's window takes samples until the site's newest
sample is ``mr.allowed_lateness_seconds`` past the window's end; later ones are late
(dead-lettered, not counted). Readings already counted (device, seq) are not counted again.

``CoverageSums`` (keyed by area) keeps every site's latest counts per window and sends the
area's total: ``coverage_windows``, whose row a correction replaces. Both send whole counts,
never increments, so a record processed again after a crash changes nothing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import h3
from pydantic import Field

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.deadletter import DeadLetter
from fjsense.settings import Settings
from kinds.cells.cell import KIND as CELL
from kinds.cells.mr import (
    BIN_COLUMNS,
    COVERAGE,
    DISTRICTS,
    KIND,
    PARTS,
    RSRP_BIN_EDGES,
    CoveragePart,
    CoverageWindow,
    DistrictCoverage,
    MrSettings,
    rsrp_index_at_least,
    sinr_index_at_least,
)
from kinds.cells.processor import district_of
from streams import seen
from streams.contract import Batch, Output
from streams.seen import Ranges
from streams.silence import Heard
from streams.state import KeyState, ModelState

COUNTS = ("samples", "good_samples", "rsrp_good_samples", *BIN_COLUMNS)


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


Counts = list[int]  # in the order of COUNTS


class SiteCounts(Heard):
    """A site's open windows (by start, epoch s): counts per area (``district:…``, ``h3:…``)."""

    site: str = ""
    windows: dict[int, dict[str, Counts]] = Field(default_factory=dict)
    seen: dict[str, Ranges] = Field(default_factory=dict)  # per device: seqs counted
    watermark: float | None = None  # the site's newest sample (event time)


class AreaSums(KeyState):
    """An area's held windows (by start, epoch s): the latest counts of each site."""

    windows: dict[int, dict[str, Counts]] = Field(default_factory=dict)
    newest: float | None = None  # the newest window start taken in


class CoverageParts(ModelState[SiteCounts]):
    """Per 5G site (the Kafka key): its samples counted per window and area."""

    name = "coverage-parts"
    source = KIND.raw_topic
    state_model = SiteCounts

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: MrSettings = KIND.section(settings)
        self.districts = district_of(catalog, CELL.name)
        self.rsrp_good = rsrp_index_at_least(self.config.rsrp_good_dbm)
        self.sinr_good = sinr_index_at_least(self.config.sinr_good_db)
        # RSRP index edges of the bins, highest first: ≥ −85 dBm ⇔ index ≥ 72, …
        self.bin_edges = [rsrp_index_at_least(dbm) for dbm in RSRP_BIN_EDGES]
        self.silence = KIND.common(settings).close_after_silence_seconds

    def due(self, state: SiteCounts, wall: float) -> bool:
        return bool(state.windows) and state.silent(wall, self.silence)

    def tick(self, state: SiteCounts, wall: float) -> list[Output]:
        """A site fallen silent: its windows are final now (as if its time had moved past
        their lateness), its counts sent once more, whole (the sums absorb a repeat), and its
        samples for them that come later are late."""
        if not self.due(state, wall):
            return []
        windows = state.windows
        out = [self._part(state.site, start, area, counts)
               for start in sorted(windows)
               for area, counts in sorted(windows[start].items())]
        last_end = max(windows) + self.config.window_seconds
        state.watermark = last_end + self.config.allowed_lateness_seconds
        self._forget(state, state.watermark)
        return out

    def step(self, state: SiteCounts, batch: Batch) -> list[Output]:
        state.hear(batch.timestamp)
        state.site = batch.key
        site, window = batch.key, self.config.window_seconds
        district = "district:" + self.districts[site]
        windows, counted, watermark = state.windows, state.seen, state.watermark
        touched: set[tuple[int, str]] = set()
        late: list[dict[str, Any]] = []
        for reading in batch.items:
            ranges = counted.setdefault(reading.device, [])
            if seen.seen(ranges, reading.seq):
                continue  # a duplicate: counted once
            newest = max(s.ts.timestamp() for s in reading.samples)
            seen.add(ranges, reading.seq, newest)
            too_late = 0
            for sample in reading.samples:
                at = sample.ts.timestamp()
                start = int(at // window * window)
                if watermark is not None and \
                        start + window + self.config.allowed_lateness_seconds <= watermark:
                    too_late += 1
                    continue
                hexagon = "h3:" + h3.latlng_to_cell(sample.lat, sample.lon,
                                                    self.config.h3_resolution)
                areas = windows.setdefault(start, {})
                for area in (district, hexagon):
                    self._count(areas.setdefault(area, [0] * len(COUNTS)), sample)
                    touched.add((start, area))
            if too_late:
                late.append({"device": reading.device, "seq": reading.seq,
                             "late_samples": too_late})
            watermark = newest if watermark is None else max(watermark, newest)
        state.watermark = watermark
        out = [self._part(site, start, area, windows[start][area]) for start, area in
               sorted(touched)]
        self._forget(state, watermark)
        if late:
            out.append(Output(topics.DEADLETTER, self.source, self._late_letter(
                site, late, _moment(batch.timestamp))))
        return out

    def _count(self, counts: list[int], sample: Any) -> None:
        counts[0] += 1
        rsrp_ok = sample.rsrp_idx >= self.rsrp_good
        counts[1] += rsrp_ok and sample.sinr_idx >= self.sinr_good
        counts[2] += rsrp_ok
        counts[3 + sum(sample.rsrp_idx < edge for edge in self.bin_edges)] += 1

    def _part(self, site: str, begin: int, area: str, counts: Counts) -> Output:
        area_type, _, name = area.partition(":")
        return Output(PARTS.topic, area, CoveragePart(
            window_start=_moment(begin), window_end=_moment(begin + self.config.window_seconds),
            area_type=area_type, area=name, site=site, **dict(zip(COUNTS, counts, strict=True))))

    def _forget(self, state: SiteCounts, watermark: float | None) -> None:
        """Windows past their lateness are final; readings older than those are late anyway."""
        if watermark is None:
            return
        horizon = watermark - self.config.allowed_lateness_seconds - self.config.window_seconds
        windows = state.windows
        for start in [s for s in windows if s + self.config.window_seconds
                      + self.config.allowed_lateness_seconds <= watermark]:
            del windows[start]
        for device, ranges in state.seen.items():
            state.seen[device] = seen.forget(ranges, horizon)

    def _late_letter(self, site: str, late: list[dict[str, Any]],
                     received_at: datetime) -> DeadLetter:
        count = sum(x["late_samples"] for x in late)
        return DeadLetter.of(
            "coverage", f"late: {count} measurement samples of {site} in windows already final "
            f"(more than mr.allowed_lateness_seconds = {self.config.allowed_lateness_seconds} s "
            "behind the site's newest sample): stored, not counted in coverage", self.source,
            json.dumps(late).encode(), received_at)


class CoverageSums(ModelState[AreaSums]):
    """Per area (the Kafka key): every site's latest counts per window, summed."""

    name = "coverage-sums"
    source = PARTS.topic
    state_model = AreaSums

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: MrSettings = KIND.section(settings)
        sites: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for site in catalog.sites_of(CELL.name):
            sites[site.district or site.region].append((site.lat, site.lon))
        self.centres = {d: (sum(p[0] for p in at) / len(at), sum(p[1] for p in at) / len(at))
                        for d, at in sites.items()}

    def centre(self, area_type: str, area: str) -> tuple[float, float]:
        if area_type == "h3":
            lat, lon = h3.cell_to_latlng(area)
            return round(lat, 6), round(lon, 6)
        lat, lon = self.centres.get(area, (0.0, 0.0))
        return round(lat, 6), round(lon, 6)

    def step(self, state: AreaSums, batch: Batch) -> list[Output]:
        windows = state.windows
        newest = state.newest
        touched: dict[int, CoveragePart] = {}
        out: list[Output] = []
        for part in batch.items:
            start = part.window_start.timestamp()
            if newest is not None and start < newest - self.config.hold_windows_seconds:
                out.append(Output(topics.DEADLETTER, self.source, DeadLetter.of(
                    "coverage", f"{part.area_type} {part.area}: window {part.window_start} is "
                    f"no longer held (mr.hold_windows_seconds): its total would miss the other "
                    "sites", self.source, part.model_dump_json().encode(),
                    _moment(batch.timestamp))))
                continue
            key = int(start)
            windows.setdefault(key, {})[part.site] = [getattr(part, c) for c in COUNTS]
            touched[key] = part
            newest = start if newest is None else max(newest, start)
        state.newest = newest
        for key, part in sorted(touched.items()):
            out += self._total(batch.key, part, windows[key])
        for key in [k for k in windows if newest is not None
                    and k < newest - self.config.hold_windows_seconds]:
            del windows[key]
        return out

    def _total(self, key: str, part: CoveragePart, sites: dict[str, Counts]) -> list[Output]:
        counts = dict(zip(COUNTS, (sum(c) for c in zip(*sites.values(), strict=True)),
                          strict=True))
        samples = counts["samples"]
        lat, lon = self.centre(part.area_type, part.area)
        row = CoverageWindow(lat=lat, lon=lon,
            window_start=part.window_start, window_end=part.window_end,
            area_type=part.area_type, area=part.area, sites=len(sites),
            coverage_rate=counts["good_samples"] / samples,
            rsrp_rate=counts["rsrp_good_samples"] / samples, **counts)
        out = [Output(COVERAGE.topic, key, row)]
        if part.area_type == "district":
            out.append(Output(DISTRICTS.topic, part.area, DistrictCoverage(
                district=part.area, window_start=part.window_start, ts=part.window_end,
                samples=samples, coverage_rate=row.coverage_rate,
                judged_rate=row.coverage_rate if samples >= self.config.min_samples else None)))
        return out
