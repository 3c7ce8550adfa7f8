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
    processor, state, out = PollutionProcessor(Settings(), load_catalog()), {}, []
    readings = [packet(m, 20.0 + m % 2) for m in range(60)]
    readings[30] = packet(30, 90.0, flag="C")  # under calibration: not averaged, counted
    for reading in readings[:40] + readings[35:40] + readings[40:] + [packet(66, 20.0)]:
        out += processor.step(state, Batch(SITE, [reading], 0.0))
    assert len([o for o in out if o.topic == VALUES.topic]) == 61  # the repeats made no rows
    [hour] = [o.value for o in out if o.topic == HOURLY.topic]
    normal = [20.0 + m % 2 for m in range(60) if m != 30]
    assert (hour.samples, hour.flagged, hour.qc) == (59, 1, 3)
    assert hour.avg == sum(normal) / 59 and hour.valid and not hour.exceeded
