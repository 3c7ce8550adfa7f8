"""A source that falls silent still gets its last windows closed and judged, at the latest
``{kind}.close_after_silence_seconds`` of wall-clock time after its last record: pollution
hours, buoy quality hours, PUE windows, coverage windows. An incomplete window is judged as
such, never dropped; what comes later for it is late."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.buoy.kind import QUALITY, CheckedReading
from kinds.buoy.processor import QualityProcessor
from kinds.cells.coverage import CoverageParts
from kinds.cells.mr import PARTS, MrReading
from kinds.pollution.kind import HOURLY, HOURS, PollutionReading
from kinds.pollution.processor import PollutionProcessor
from kinds.power.kind import PUE, PowerReading
from kinds.power.processor import PueProcessor
from streams.contract import Batch

CATALOG = load_catalog()
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
ARRIVED = 1_800_000_000.0  # wall clock when the last record reached the platform


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_a_silent_pollution_point_has_its_open_hour_closed_and_judged_incomplete():
    settings = Settings(pollution={"close_after_silence_seconds": 600})
    processor = PollutionProcessor(settings, CATALOG)
    state = processor.load_state({})
    mn, site = "350104LBWS000000000001", "fz-lianban-wwtp"

    def packet(minute: int) -> PollutionReading:
        return PollutionReading.model_validate_json(json.dumps({
            "device": mn, "seq": minute, "ts": at(minute).isoformat(), "cn": "2011",
            "values": {"w01018": {"value": 80.0, "flag": "N"}}}))

    for minute in range(20):  # 20 minutes of the 02:00 hour, then nothing
        assert not [o for o in processor.step(state, Batch(site, [packet(minute)], ARRIVED))
                    if o.topic == HOURLY.topic]
    assert not processor.due(state, ARRIVED + 599) and processor.tick(state, ARRIVED + 599) == []
    assert processor.due(state, ARRIVED + 600)
    out = processor.tick(state, ARRIVED + 600)
    [hour] = [o.value for o in out if o.topic == HOURLY.topic]
    assert (hour.hour, hour.samples, hour.expected, hour.valid, hour.exceeded) == (
        START, 20, 60, False, False)  # 20 of 60 minutes: not valid under HJ 75, not dropped
    [point] = [o.value for o in out if o.topic == HOURS.topic]
    assert point.ts == at(60) and point.worst_ratio is None
    assert not processor.due(state, ARRIVED + 10_000)  # closed once
    back = processor.step(state, Batch(site, [packet(25)], ARRIVED + 700))
    assert [o.value.reason.split(":")[0] for o in back if o.topic == "fj.deadletter"] == ["late"]


def test_a_silent_buoy_station_has_its_open_hour_classed():
    settings = Settings(buoy={"close_after_silence_seconds": 300})
    processor = QualityProcessor(settings, CATALOG)
    state = processor.load_state({})
    for minute in (0, 10, 20):
        processor.step(state, Batch("pingtan-b1", [CheckedReading(
            site="pingtan-b1", device="pingtan-b1-b1", seq=minute, ts=at(minute),
            do_mg_l=6.5, ph=8.1)], ARRIVED))
    assert processor.tick(state, ARRIVED + 299) == []
    [hour] = [o.value for o in processor.tick(state, ARRIVED + 300) if o.topic == QUALITY.topic]
    assert (hour.station, hour.hour, hour.samples, hour.class_label) == (
        "pingtan-b1", START, 3, "I")
    assert processor.tick(state, ARRIVED + 900) == []


def test_a_silent_datacenter_has_its_last_windows_closed_with_their_reasons():
    settings = Settings(power={"close_after_silence_seconds": 900})
    processor = PueProcessor(settings, CATALOG)
    state = processor.load_state({})
    site = next(s for s in CATALOG.sites_of("power") if s.id == "changle-dc1")
    meters = {d.spec.circuit: d.id for d in site.devices if d.spec.circuit in ("facility", "it")}
    kw = {"facility": 1300.0, "it": 1000.0}
    for second in range(0, 190, 10):  # three minutes and ten seconds of readings
        for circuit, device in meters.items():
            processor.step(state, Batch(site.id, [PowerReading(
                device=device, seq=second, ts=at(second / 60), circuit=circuit, kw=kw[circuit],
                kwh=kw[circuit] * second / 3600)], ARRIVED))
    assert not processor.due(state, ARRIVED + 899)
    windows = [o.value for o in processor.tick(state, ARRIVED + 900) if o.topic == PUE.topic]
    starts = [w.window_start for w in windows]
    assert starts[-1] == at(3) and windows[-1].pue is None and windows[-1].reason
    assert all(w.pue == pytest.approx(1.3) for w in windows if w.window_start < at(2))
    assert not processor.due(state, ARRIVED + 5000)


def test_a_silent_5g_site_has_its_coverage_windows_made_final():
    settings = Settings(mr={"close_after_silence_seconds": 1800})
    processor = CoverageParts(settings, CATALOG)
    state = processor.load_state({})
    cell, site = "fz-gulou-001-c1", "fz-gulou-001"

    def report(seq: int, minute: int) -> MrReading:
        stamp = at(minute).isoformat()
        return MrReading.model_validate_json(json.dumps({
            "device": cell, "seq": seq, "ts": stamp, "samples": [
                {"ts": stamp, "lat": 26.0823, "lon": 119.2975, "rsrp_idx": 60, "sinr_idx": 60}
                for _ in range(5)]}))

    processor.step(state, Batch(site, [report(1, 5)], ARRIVED))
    assert not processor.due(state, ARRIVED + 1799)
    parts = [o.value for o in processor.tick(state, ARRIVED + 1800) if o.topic == PARTS.topic]
    assert {(p.area_type, p.samples) for p in parts} == {("district", 5), ("h3", 5)}
    assert not processor.due(state, ARRIVED + 9999)
    late = processor.step(state, Batch(site, [report(2, 7)], ARRIVED + 1900))
    assert [o.value.reason[:5] for o in late if o.topic == "fj.deadletter"] == ["late:"]
