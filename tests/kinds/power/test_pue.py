"""PUE from counters: the arithmetic, resets, gaps, lateness, duplicates and reordering."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kinds.power.kind import PowerReading
from kinds.power.pue import Late, MeterSpec, PueConfig, SitePue, SiteState, window_energy

T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
METERS = [MeterSpec("f", "facility", 5000), MeterSpec("i", "it", 4000), MeterSpec("c", "cooling", 2000)]
CONFIG = PueConfig(window=60, rolling=15, lateness=120, max_gap=120, idle=600)


def readings(minutes: int, kw: dict[str, Any], step: int = 10) -> list[dict[str, Any]]:
    """Readings every ``step`` s; ``kw[device](t_seconds)`` is the power, counters integrate it."""
    out, kwh = [], {d: 1000.0 for d in kw}
    for k in range(minutes * 60 // step + 1):
        for device, power in kw.items():
            p = power(k * step)
            if k:
                kwh[device] += p * step / 3600
            out.append({"device": device, "seq": k, "ts": (T0 + timedelta(seconds=k * step)).isoformat(),
                        "kw": p, "kwh": kwh[device]})
    return out


CIRCUIT = {m.device: m.circuit for m in METERS}


def add(site: SitePue, state: SiteState, event: dict[str, Any]) -> list[dict[str, Any]] | Late:
    """Feed one reading given as a plain dict; windows come back as plain dicts."""
    reading = PowerReading.model_construct(
        circuit=CIRCUIT[event["device"]], **{**event, "ts": datetime.fromisoformat(event["ts"])})
    got = site.add(state, reading)
    return got if isinstance(got, Late) else [w.model_dump() for w in got]


def run(events: list[dict[str, Any]], config: PueConfig = CONFIG) -> tuple[list[dict], list[Late]]:
    site, state = SitePue("s", METERS, config), SiteState()
    windows, late = [], []
    for event in events:
        got = add(site, state, event)
        if isinstance(got, Late):
            late.append(got)
        else:
            windows.extend(got)
    return windows, late


def test_constant_load_gives_exact_pue_and_rolling_value():
    windows, late = run(readings(30, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 150.0}))
    assert late == []
    assert len(windows) == 30 - 2  # the last two minutes wait for the allowed lateness
    assert all(w["pue"] == pytest.approx(1.2, abs=1e-12) for w in windows)
    assert windows[0]["window_start"] == T0
    assert windows[0]["facility_kwh"] == pytest.approx(1200 / 60)
    assert windows[0]["cooling_kwh"] == pytest.approx(150 / 60)
    assert [w["pue_rolling"] for w in windows[:14]] == [None] * 14
    assert windows[13]["rolling_reason"] == "14 of 15 windows complete"
    assert windows[14]["pue_rolling"] == pytest.approx(1.2, abs=1e-12)
    assert windows[0]["instant_kw_ratio"] == pytest.approx(1.2)


def test_pue_is_energy_ratio_not_mean_of_instant_ratios():
    # IT load alternates 500/1500 kW every 30 s; facility = IT + 300 kW constant overhead
    it = lambda t: 500.0 if (t // 30) % 2 == 0 else 1500.0
    windows, _ = run(readings(5, {"f": lambda t: it(t) + 300, "i": it, "c": lambda t: 100.0}))
    energy_ratio = (1000 + 300) / 1000
    mean_of_ratios = (800 / 500 + 1800 / 1500) / 2
    assert windows[0]["pue"] == pytest.approx(energy_ratio)
    assert not math.isclose(windows[0]["pue"], mean_of_ratios, rel_tol=1e-3)


def test_counter_reset_uses_power_for_that_interval_only():
    events = readings(5, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 150.0})
    for e in events:
        if e["device"] == "f" and e["seq"] >= 9:  # meter replaced at 90 s: counter restarts at 3
            e["kwh"] = e["kwh"] - 1030.0 + 3.0
    windows, _ = run(events)
    assert [round(w["pue"], 9) for w in windows] == [1.2, 1.2, 1.2]


def test_missing_it_meter_gives_no_pue_and_says_why():
    events = [e for e in readings(6, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 1.0})
              if not (e["device"] == "i" and 100 <= e["seq"] * 10 < 250)]
    windows, _ = run(events)
    assert windows[0]["pue"] == pytest.approx(1.2)
    assert windows[1]["pue"] is None
    assert windows[1]["reason"] == "i (it): gap of 160s between readings"
    assert windows[1]["facility_kwh"] == pytest.approx(20.0)
    assert windows[1]["it_kwh"] is None


def test_a_site_whose_catalog_has_no_it_meter_gets_windows_that_say_so():
    site, state = SitePue("s", [m for m in METERS if m.circuit != "it"], CONFIG), SiteState()
    windows = []
    for event in readings(4, {"f": lambda t: 1200.0, "c": lambda t: 150.0}):
        got = add(site, state, event)
        assert not isinstance(got, Late)
        windows += got
    assert len(windows) == 2  # minutes 0 and 1; the rest wait for the allowed lateness
    assert all(w["pue"] is None and w["reason"] == "no it meter in the catalog" for w in windows)
    assert windows[0]["facility_kwh"] == pytest.approx(20.0) and windows[0]["it_kwh"] is None


def test_missing_cooling_does_not_block_pue():
    events = [e for e in readings(15, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 1.0})
              if e["device"] != "c"]
    windows, _ = run(events)
    assert len(windows) == 13  # held until the silent cooling meter counts as idle (10 min)
    assert windows[0]["pue"] == pytest.approx(1.2) and windows[0]["cooling_kwh"] is None


def test_meter_whose_connection_lags_minutes_behind_still_counts():
    events = readings(20, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 1.0})
    it = [e for e in events if e["device"] == "i"]
    lagged = []
    for e in events:  # each IT reading arrives with the others' reading of 5 minutes later
        if e["device"] != "i":
            lagged.append(e)
            if e["device"] == "f" and e["seq"] >= 30:
                lagged.append(it[e["seq"] - 30])
    lagged += it[-30:]
    windows, late = run(lagged)
    assert late == [] and len(windows) == 18
    assert all(w["pue"] == pytest.approx(1.2) for w in windows)


def test_silent_meter_stops_holding_windows_after_idle_timeout():
    events = readings(30, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 1.0})
    events = [e for e in events if not (e["device"] == "c" and e["seq"] > 30)]  # cooling dies at 5 min
    windows, _ = run(events)
    assert len(windows) == 28  # the dead cooling meter does not stall the site
    assert windows[3]["cooling_kwh"] == pytest.approx(1 / 60) and windows[10]["cooling_kwh"] is None
    assert all(w["pue"] == pytest.approx(1.2) for w in windows)


def test_reading_older_than_lateness_is_reported_late():
    events = readings(6, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 1.0})
    old = next(e for e in events if e["device"] == "f" and e["seq"] == 3)
    events.remove(old)
    windows, late = run(events + [old])
    assert late == [Late("f", 3, 360 - 30)]


def test_gap_interpolation_matches_linear_counter():
    pts = [(0.0, 0, 0.0, 0.0), (100.0, 1, 10.0, 0.0)]
    assert window_energy(pts, 30, 90, None, 200) == pytest.approx(6.0)
    assert window_energy(pts, 30, 90, None, 50) == "gap of 100s between readings"
    assert window_energy(pts, -10, 90, None, 200) == "no reading at or before the window start"


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), shift=st.integers(0, 9))
def test_bounded_reordering_and_duplicates_change_nothing(seed: int, shift: int):
    rnd = random.Random(seed)
    base = readings(20, {"f": lambda t: 1200 + 50 * math.sin(t / 90), "i": lambda t: 1000 + 80 * math.cos(t / 70),
                         "c": lambda t: 150.0})
    expected, _ = run(base)
    shuffled = list(base)
    for i in range(0, len(shuffled) - 6, 6):  # reorder within ~2 readings per meter (20 s < lateness)
        block = shuffled[i + shift % 3 : i + 6 + shift % 3]
        rnd.shuffle(block)
        shuffled[i + shift % 3 : i + 6 + shift % 3] = block
    shuffled += rnd.sample(base, 30)  # duplicates, some arriving late
    got, _ = run(shuffled)
    assert [w["pue"] for w in got] == pytest.approx([w["pue"] for w in expected], abs=1e-12)
    assert [w["pue_rolling"] for w in got] == [w["pue_rolling"] for w in expected]


def test_state_survives_json_round_trip():
    events = readings(10, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 1.0})
    site, state = SitePue("s", METERS, CONFIG), SiteState()
    first = [w for e in events[:60] for w in add(site, state, e)]
    state = SiteState.model_validate(state.model_dump(mode="json"))
    rest = [w for e in events[60:] for w in add(site, state, e)]
    expected, _ = run(events)
    assert first + rest == expected


def test_a_meter_back_from_idle_holds_windows_again():
    """Regression: a late reading left its meter's latest time behind, so a meter that once
    fell ``idle`` behind and then came back steadily behind (beyond the lateness, within the
    idle span, as a logger uploading in chunks does) stayed late for ever."""
    events = readings(60, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 150.0})

    def delivered(e: dict[str, Any]) -> float:
        t = e["seq"] * 10
        if e["device"] != "i" or t < 300:
            return t
        return 1000 if t < 800 else t + 200  # silent 300–1000 s, then 200 s behind

    windows, late = run(sorted(events, key=delivered))
    assert late and all(x.device == "i" for x in late)
    after = [w for w in windows if w["window_start"] >= T0 + timedelta(seconds=1500)]
    assert len(after) > 20 and all(w["pue"] == pytest.approx(1.2) for w in after)


def test_a_site_silent_for_days_resumes_without_a_window_per_silent_minute():
    """Regression (found by the benchmark): readings resuming after 40 days finalised 57,600
    empty windows in one step, a 1.2 MB changelog record that crashed the worker."""
    kw = {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 150.0}
    before = readings(30, kw)
    after = [{**e, "seq": e["seq"] + 10_000,
              "ts": (datetime.fromisoformat(e["ts"]) + timedelta(days=40)).isoformat()}
             for e in readings(30, kw)]
    windows, late = run(before + after)
    silent = [w for w in windows
              if T0 + timedelta(minutes=31) < w["window_start"] < T0 + timedelta(days=40)]
    assert not late and len(silent) <= 2 and len(windows) <= 2 * 30 + 2
    resumed = [w for w in windows if w["window_start"] >= T0 + timedelta(days=40)]
    assert len(resumed) >= 25 and all(w["pue"] == pytest.approx(1.2) for w in resumed)
    assert resumed[13]["pue_rolling"] is None and resumed[14]["pue_rolling"] == pytest.approx(1.2)


def test_a_meter_reporting_many_times_a_second_keeps_the_state_small():
    """Regression (found by the benchmark): 1,750 readings/s per meter made one site's state
    a multi-megabyte changelog record. Thinned to one point a second, PUE is unchanged."""
    fast = readings(10, {"f": lambda t: 1200.0, "i": lambda t: 1000.0, "c": lambda t: 150.0},
                    step=1)
    dense = [{**e, "seq": e["seq"] * 100 + k, "ts": (datetime.fromisoformat(e["ts"])
             + timedelta(milliseconds=10 * k)).isoformat(), "kwh": e["kwh"]}
             for e in fast for k in range(5)]
    config = PueConfig(window=60, rolling=15, lateness=120, max_gap=120, idle=600, min_spacing=1.0)
    site, state = SitePue("s", METERS, config), SiteState()
    windows = [w for e in dense for w in add(site, state, e)]
    assert all(len(pts) <= 190 for pts in state.points.values())  # (window + lateness) points
    assert windows and all(w["pue"] == pytest.approx(1.2) for w in windows)
