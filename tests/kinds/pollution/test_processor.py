"""The pollution processor counts a packet sent twice once, and an hour's average is the mean
of its normal real-time values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.pollution.kind import HOURLY, VALUES, PollutionReading
from kinds.pollution.processor import PollutionProcessor
from streams.contract import Batch

MN, SITE = "350104LBWS000000000001", "fz-lianban-wwtp"
START = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def packet(minute: int, cod: float, flag: str = "N") -> PollutionReading:
    at = START + timedelta(minutes=minute)
    return PollutionReading.model_validate_json(json.dumps({
        "device": MN, "seq": int(at.timestamp()), "ts": at.isoformat(), "cn": "2011",
        "values": {"w01018": {"value": cod, "flag": flag}}}))


def test_a_duplicate_is_counted_once_and_the_hour_averages_normal_values():
    processor, out = PollutionProcessor(Settings(), load_catalog()), []
    state = processor.load_state({})
    readings = [packet(m, 20.0 + m % 2) for m in range(60)]
    readings[30] = packet(30, 90.0, flag="C")  # under calibration: not averaged, counted
    for reading in readings[:40] + readings[35:40] + readings[40:] + [packet(66, 20.0)]:
        out += processor.step(state, Batch(SITE, [reading], 0.0))
    assert len([o for o in out if o.topic == VALUES.topic]) == 61  # the repeats made no rows
    [hour] = [o.value for o in out if o.topic == HOURLY.topic]
    normal = [20.0 + m % 2 for m in range(60) if m != 30]
    assert (hour.samples, hour.flagged, hour.qc) == (59, 1, 3)
    assert hour.avg == sum(normal) / 59 and hour.valid and not hour.exceeded


def test_a_packet_numbered_one_below_the_last_is_no_repeat_after_the_changelog():
    """HJ 212's QN is a 17-digit number, beyond a float's exact integers: kept as a float in
    the state, 20261205230000009 became …008, and the packet numbered …008 that came next (a
    slow sender's) was taken for a repeat and lost."""
    processor = PollutionProcessor(Settings(), load_catalog())
    stored: dict = {}
    values = 0
    for qn, second in ((20261205230000009, 0), (20261205230000008, 30)):
        reading = packet(0, 20.0).model_copy(update={"seq": qn, "ts": START + timedelta(
            seconds=second)})
        state = processor.load_state(stored)  # as the worker does for each record
        values += len([o for o in processor.step(state, Batch(SITE, [reading], 0.0))
                       if o.topic == VALUES.topic])
        stored = json.loads(json.dumps(processor.dump_state(state)))
    assert values == 2
    assert stored["points"][MN]["seen"][0][:2] == [20261205230000008, 20261205230000009]
