"""The thermometer's windows in event time: one thermometer running ahead of the other holds
no reading out of its window (CI at ba982b8: t1's readings minutes ahead closed 11:15 before
t2's 11:17 came, and the window counted 9 of its 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fjsense.catalog import catalog_of
from fjsense.settings import Settings
from streams.contract import Batch
from tests.thermometer.kind import MEANS, TempMean, TempReading
from tests.thermometer.processor import ThermometerProcessor

HERE = "tests/thermometer/catalog.yaml"
T0 = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


@pytest.fixture
def processor() -> ThermometerProcessor:
    settings = Settings(plugins=["tests.thermometer.kind"], catalog={"file": HERE})
    return ThermometerProcessor(settings, catalog_of(settings))


def feed(processor: ThermometerProcessor, state: dict[str, Any], device: str,
         minutes: range, temp: float) -> list[TempMean]:
    items = [TempReading(device=device, seq=m, ts=T0 + timedelta(minutes=m), temp_c=temp)
             for m in minutes]
    outs = processor.step(state, Batch("thermo-lab1", items, 0.0))
    return [o.value for o in outs if o.topic == MEANS.topic]


def test_a_window_waits_for_the_thermometer_behind(processor):
    state: dict[str, Any] = {}
    assert feed(processor, state, "thermo-lab1-t1", range(10), 20.0) == []  # t2 unheard
    assert feed(processor, state, "thermo-lab1-t2", range(4), 30.0) == []  # 11:00 open
    means = feed(processor, state, "thermo-lab1-t2", range(4, 10), 30.0)
    assert [(m.window_start.minute, m.readings, m.mean_c) for m in means] == [
        (0, 10, 25.0)]  # 11:05 stays open: neither has passed 11:10


def test_a_silent_thermometer_holds_no_window_for_ever(processor):
    state: dict[str, Any] = {}
    assert feed(processor, state, "thermo-lab1-t1", range(5), 20.0) == []
    means = feed(processor, state, "thermo-lab1-t1", range(5, 16), 21.0)  # 11:15: t2 10 min silent
    assert [(m.window_start.minute, m.readings) for m in means] == [(0, 5), (5, 5), (10, 5)]
