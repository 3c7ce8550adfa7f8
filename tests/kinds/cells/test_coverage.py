"""Coverage from measurement reports, through both stages as the worker runs them: equal to
counting the samples directly; a late batch within the allowed lateness corrects its window,
a later one is dead-lettered; a duplicate is counted once; the 38.133 index edges."""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import h3
import numpy as np
import pytest

from fjsense import topics
from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.cells.coverage import AreaSums, CoverageParts, CoverageSums, SiteCounts
from kinds.cells.mr import (
    COVERAGE,
    DISTRICTS,
    KIND,
    MrReading,
    rsrp_dbm,
    rsrp_index_at_least,
    sinr_db,
    sinr_index_at_least,
)
from kinds.cells.radio import rsrp_index
from kinds.cells.simulator import CellScenario, CellsSimulator, mr_messages
from streams.contract import Batch

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CATALOG = load_catalog()


def test_index_edges_follow_ts_38_133():
    assert (rsrp_dbm(1), rsrp_dbm(52), rsrp_dbm(126)) == (-156, -105, -31)
    assert (sinr_db(1), sinr_db(41), sinr_db(126)) == (-23, -3, 39.5)
    assert rsrp_index_at_least(-105) == 52 and sinr_index_at_least(-3) == 41
    assert rsrp_index_at_least(-104.5) == 53  # bin 52 is [-105, -104): not all of it ≥ -104.5


class Pipeline:
    """The two coverage stages with their state per key, as the worker keeps it."""

    def __init__(self, settings: Settings) -> None:
        self.parts, self.sums = CoverageParts(settings, CATALOG), CoverageSums(settings, CATALOG)
        self.counts: dict[str, SiteCounts] = {}
        self.sums_of: dict[str, AreaSums] = {}
        self.rows: dict[tuple, object] = {}  # coverage_windows, by key: upserts
        self.letters: list = []
        self.judged: list = []

    def feed(self, site: str, readings: list[MrReading], received: float = 0.0) -> None:
        for out in self.parts.step(self.counts.setdefault(site, self.parts.load_state({})),
                                   Batch(site, readings, received)):
            if out.topic == topics.DEADLETTER:
                self.letters.append(out.value)
                continue
            for total in self.sums.step(self.sums_of.setdefault(out.key, self.sums.load_state({})),
                                        Batch(out.key, [out.value], received)):
                if total.topic == COVERAGE.topic:
                    v = total.value
                    self.rows[(v.window_start, v.area_type, v.area)] = v
                elif total.topic == DISTRICTS.topic:
                    self.judged.append(total.value)


def readings_of(scenario: CellScenario) -> list[tuple[str, MrReading]]:
    return [(m.topic.split("/")[2], MrReading.model_validate_json(m.payload))
            for m in mr_messages(scenario)]


def expected(readings: list[tuple[str, MrReading]], settings: Settings) -> dict[tuple, tuple]:
    """(window, area_type, area) → (samples, good) counted straight from the samples."""
    config = KIND.section(settings)
    district = {s.id: s.district for s in CATALOG.sites_of("cell")}
    counts: Counter = Counter()
    for site, reading in readings:
        for s in reading.samples:
            start = datetime.fromtimestamp(s.ts.timestamp() // 900 * 900, UTC)
            good = s.rsrp_idx - 157 >= config.rsrp_good_dbm and \
                s.sinr_idx / 2 - 23.5 >= config.sinr_good_db
            for key in ((start, "district", district[site]),
                        (start, "h3", h3.latlng_to_cell(s.lat, s.lon, config.h3_resolution))):
                counts[key + ("n",)] += 1
                counts[key + ("good",)] += good
    return {k[:3]: (counts[k[:3] + ("n",)], counts[k[:3] + ("good",)])
            for k in counts if k[3] == "n"}


def test_two_stages_count_what_the_samples_say():
    settings = Settings()
    sites = CellsSimulator.sites(CATALOG, ["gulou", "pingtan"], per_district=4)
    readings = readings_of(CellScenario(sites, START, timedelta(minutes=40), phones=80, seed=3))
    pipe = Pipeline(settings)
    for site, reading in readings:
        pipe.feed(site, [reading])
    want = expected(readings, settings)
    got = {k: (v.samples, v.good_samples) for k, v in pipe.rows.items()}
    assert got == want and len(want) > 20
    assert all(v.coverage_rate == v.good_samples / v.samples for v in pipe.rows.values())
    assert {v.area for v in pipe.rows.values() if v.area_type == "district"} == {"gulou",
                                                                                 "pingtan"}
    assert not pipe.letters
    gulou = [j for j in pipe.judged if j.district == "gulou"]
    assert gulou and all((j.judged_rate is None) == (j.samples < 200) for j in gulou)


def _batch(device: str, seq: int, at: datetime, n: int, rsrp: int = 60) -> MrReading:
    stamp = at.isoformat().replace("+00:00", "Z")
    return MrReading.model_validate_json(json.dumps({
        "device": device, "seq": seq, "ts": stamp, "samples": [
            {"ts": stamp, "lat": 26.0823, "lon": 119.2975, "rsrp_idx": rsrp, "sinr_idx": 60}
            for _ in range(n)]}))


def test_a_late_batch_corrects_its_window_within_the_lateness_and_is_refused_after():
    pipe = Pipeline(Settings(mr={"allowed_lateness_seconds": 600}))
    cell, site = "fz-gulou-001-c1", "fz-gulou-001"
    key = (START, "district", "gulou")
    pipe.feed(site, [_batch(cell, 1, START + timedelta(minutes=5), 10)])
    pipe.feed(site, [_batch(cell, 2, START + timedelta(minutes=20), 10)])  # next window
    assert pipe.rows[key].samples == 10
    pipe.feed(site, [_batch(cell, 3, START + timedelta(minutes=14), 5, rsrp=30)])  # late, in
    assert (pipe.rows[key].samples, pipe.rows[key].good_samples) == (15, 10)
    pipe.feed(site, [_batch(cell, 2, START + timedelta(minutes=20), 10)])  # a duplicate
    assert pipe.rows[(START + timedelta(minutes=15), "district", "gulou")].samples == 10
    pipe.feed(site, [_batch(cell, 4, START + timedelta(minutes=26), 1)])  # watermark 12:26
    pipe.feed(site, [_batch(cell, 5, START + timedelta(minutes=10), 7)])  # 12:00 window final
    assert pipe.rows[key].samples == 15
    [letter] = pipe.letters
    assert letter.reason.startswith("late: 7 measurement samples of fz-gulou-001")
    assert json.loads(base64.b64decode(letter.payload_b64)) == [
        {"device": cell, "seq": 5, "late_samples": 7}]


def test_out_of_range_indexes_are_refused_sample_by_sample():
    reading = MrReading.model_validate_json(json.dumps({
        "device": "c", "seq": 1, "ts": "2026-12-01T12:00:00Z", "samples": [
            {"ts": "2026-12-01T12:00:00Z", "lat": 26.0, "lon": 119.3, "rsrp_idx": r,
             "sinr_idx": s} for r, s in ((60, 60), (127, 60), (60, 128), (0, 127), (-1, 0),
                                         (126, 0))]}))
    kept, refused = reading.split()
    assert kept is not None and [(s.rsrp_idx, s.sinr_idx) for s in kept.samples] == [
        (60, 60), (0, 127), (126, 0)]
    assert [r for r, _ in refused] == [
        "samples[1]: rsrp_idx 127 is outside the reported range 0-126",
        "samples[2]: sinr_idx 128 is outside the reported range 0-127",
        "samples[4]: rsrp_idx -1 is outside the reported range 0-126"]
    only_bad = reading.model_copy(update={"samples": reading.samples[1:3]})
    assert only_bad.split()[0] is None


def test_open_ended_bins_are_measurements_rsrp_0_a_coverage_hole():
    """TS 38.133's open-ended bins: SS-RSRP_0 (below −156 dBm) is counted, never covered, in
    the bottom bin; SS-RSRP_126 (−31 dBm and above) and SS-SINR_127 (40 dB and above) cover;
    SS-SINR_0 (below −23 dB) does not."""
    pipe = Pipeline(Settings())
    stamp = "2026-12-01T12:00:00Z"
    pipe.feed("fz-gulou-001", [MrReading.model_validate_json(json.dumps({
        "device": "fz-gulou-001-c1", "seq": 1, "ts": stamp, "samples": [
            {"ts": stamp, "lat": 26.0823, "lon": 119.2975, "rsrp_idx": r, "sinr_idx": s}
            for r, s in ((0, 60), (0, 127), (126, 127), (126, 0), (52, 41), (51, 41))]}))])
    row = pipe.rows[(START, "district", "gulou")]
    assert (row.samples, row.good_samples, row.rsrp_good_samples) == (6, 2, 3)
    assert (row.rsrp_ge_85, row.rsrp_lt_115) == (2, 2)
    assert row.coverage_rate == pytest.approx(2 / 6)
    assert not pipe.letters


@pytest.mark.parametrize("dbm,index", [(-156.0, 1), (-156.01, 0), (-105.0, 52), (-104.01, 52),
                                       (-31.0, 126), (-20.0, 126), (-200.0, 0)])
def test_the_simulator_reports_the_bin_a_value_falls_in(dbm, index):
    assert rsrp_index(np.array([dbm]))[0] == index
