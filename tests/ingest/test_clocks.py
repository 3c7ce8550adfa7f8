"""The device-clock estimator: the smallest delay over a window, and no estimate from a window
that is catching up (a replay of old records, a backlog after an outage)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingest.clocks import SLOTS, ClockEstimator

WYSS1 = Path(__file__).parents[1] / "data" / "ndbc" / "wyss1_2026-08.ocean"
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC).timestamp()


def estimator() -> ClockEstimator:
    return ClockEstimator(window=3600, min_samples=3, catch_up=60)


def real_times() -> list[float]:
    """The observation times of NDBC WYSS1 (Winyah Bay, every 15 minutes for five days),
    oldest first."""
    rows = [line.split()[:5] for line in WYSS1.read_text().splitlines()
            if not line.startswith("#")]
    return sorted(datetime(*map(int, r), tzinfo=UTC).timestamp() for r in rows)  # type: ignore[misc]


@pytest.mark.parametrize("offset", [-600.0, 30.0, -3.0, 900.0])
def test_a_live_device_is_estimated_from_its_least_queued_message(offset: float):
    clocks, rng = estimator(), random.Random(1)
    queue = [rng.expovariate(1 / 0.8) for _ in range(120)]  # mean 0.8 s of queuing
    for n, delay in enumerate(queue):
        true = NOW + n * 10
        clocks.observe("changle-dc1-m01", "power", "changle-dc1", true + offset, true + delay)
    got, samples = clocks.estimate("changle-dc1-m01", NOW + 1200)  # type: ignore[misc]
    assert got == pytest.approx(offset - min(queue), abs=1e-6)
    assert samples == 120 and abs(got - offset) < 0.1


def test_a_real_15_minute_record_with_a_gap_is_estimated_where_the_window_holds_three():
    times = real_times()  # 10 minutes behind; every third message barely queued
    del times[200:209]  # the station falls silent for two and a half hours
    clocks, estimated, withheld = estimator(), 0, 0
    for n, event in enumerate(times):
        clocks.observe("wyss1", "buoy", "winyah", event, event + 600 + (n % 3) * 4.0)
        found = clocks.estimate("wyss1", event + 600)
        if found is None:
            withheld += 1
            continue
        estimated += 1
        assert found[0] == pytest.approx(-600.0)
    assert withheld == 4 and estimated == len(times) - 4 > 480  # two at the start, two after


def test_a_fast_replay_of_a_real_record_is_no_clock_until_it_left_the_window():
    clocks = estimator()
    times = real_times()
    for n, event in enumerate(times):  # a month of 15-minute readings in 40 s
        clocks.observe("wyss1", "buoy", "winyah", event, NOW + n * 0.01)
    assert clocks.estimate("wyss1", NOW + 40) is None
    assert [c.device for c in clocks.report(NOW + 40)] == []
    for n in range(6):  # then it reports live, 2 s behind
        arrival = NOW + 3700 + n * 60
        clocks.observe("wyss1", "buoy", "winyah", arrival - 2.0, arrival)
    assert clocks.estimate("wyss1", NOW + 4100) == (pytest.approx(-2.0), 6)


def test_a_backlog_after_an_outage_is_caught_up_and_then_estimated():
    clocks = estimator()
    for n in range(10):  # live, 30 s ahead
        clocks.observe("m", "power", "s", NOW + n * 60 + 30, NOW + n * 60 + 0.5)
    # 20 minutes offline; on reconnecting it uploads the 20 stored readings within a second
    back = NOW + 9 * 60 + 1200
    for n in range(20):
        clocks.observe("m", "power", "s", back - 1200 + n * 60 + 30, back + n * 0.05)
    assert clocks.estimate("m", back + 1) == (pytest.approx(29.5), 30)  # caught up: live again
    clocks2 = estimator()
    for n in range(20):  # only the backlog: its newest reading is still 10 minutes old
        clocks2.observe("m", "power", "s", NOW - 1800 + n * 60, NOW + n * 0.05)
    assert clocks2.estimate("m", NOW + 1) is None


def test_too_few_messages_give_no_estimate_and_a_replayed_single_message_is_no_clock():
    clocks = estimator()
    clocks.observe("m", "power", "s", NOW - 10 * 365 * 86400, NOW)
    clocks.observe("m", "power", "s", NOW - 10 * 365 * 86400 + 60, NOW + 1)
    assert clocks.estimate("m", NOW + 2) is None
    assert clocks.estimate("unknown", NOW) is None


def test_old_messages_leave_the_window_and_memory_stays_bounded():
    clocks = estimator()
    for n in range(7200):  # two hours at 1 Hz, 5 s behind, then 60 s behind
        arrival = NOW + n
        clocks.observe("m", "power", "s", arrival - (5.0 if n < 3600 else 60.0), arrival)
        assert len(clocks.devices["m"].slots) <= SLOTS + 1
    got, samples = clocks.estimate("m", NOW + 7200)  # type: ignore[misc]
    assert got == pytest.approx(-60.0) and 3300 <= samples <= 3600


def test_a_report_carries_only_devices_heard_from_since_the_last():
    clocks = estimator()
    for device, offset in (("a", -600.0), ("b", 30.0)):
        for n in range(3):
            clocks.observe(device, "power", "site-1", NOW + n + offset, NOW + n)
    first = clocks.report(NOW + 5)
    assert [(c.device, c.kind, c.site, c.offset_s, c.samples) for c in first] == [
        ("a", "power", "site-1", -600.0, 3), ("b", "power", "site-1", 30.0, 3)]
    assert first[0].updated_at == datetime.fromtimestamp(NOW + 5, UTC)
    clocks.observe("b", "power", "site-1", NOW + 10 + 31, NOW + 10)
    assert [(c.device, c.offset_s, c.samples) for c in clocks.report(NOW + 11)] == [("b", 31.0, 4)]
