"""The bridge's validation of one message, per reading and per measured value: one value that
cannot be costs only itself, the reading's good values go on (buoy variables, pollution
factors, cell KPIs); a reading's time is judged against its kind's earliest_ts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from fjsense.catalog import load_catalog
from fjsense.registry import registry
from fjsense.settings import Settings
from ingest.validate import Validator

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)


def validator(settings: Settings | None = None) -> Validator:
    settings = settings or Settings()
    return Validator(load_catalog(None), registry(), settings)


def check(topic: str, payload: dict, settings: Settings | None = None
          ) -> tuple[list[dict], list[tuple[str, dict]]]:
    """(the readings forwarded, (reason, refused part) per dead letter)."""
    out = validator(settings)(topic, json.dumps(payload).encode(), NOW)
    good = json.loads(b"[" + out.good + b"]")
    return good, [(d.reason, json.loads(base64.b64decode(d.payload_b64)))
                  for d in out.letters]


def test_an_impossible_pollution_factor_is_refused_alone():
    mn = "350104LBWS000000000001"
    good, letters = check(f"fj/pollution/fz-lianban-wwtp/{mn}", {
        "device": mn, "seq": 1, "ts": "2026-12-05T03:00:00Z", "cn": "2011",
        "values": {"w01018": {"value": -3.2, "flag": "N"}, "w21003": {"value": 2.1, "flag": "N"},
                   "w01001": {"value": 15.0, "flag": "N"}, "w00000": {"value": 12.5}}})
    assert [sorted(r["values"]) for r in good] == [["w00000", "w21003"]]
    assert letters == [
        ("impossible value: w01018 (COD) value -3.2 is below zero",
         {"device": mn, "seq": 1, "ts": "2026-12-05T03:00:00Z",
          "values": {"w01018": {"value": -3.2, "flag": "N"}}}),
        ("impossible value: w01001 (pH) value 15.0 is outside 0-14",
         {"device": mn, "seq": 1, "ts": "2026-12-05T03:00:00Z",
          "values": {"w01001": {"value": 15.0, "flag": "N"}}})]


def test_impossible_cell_kpis_are_refused_one_by_one_and_go_on_as_null():
    cell = "fz-gulou-001-c1"
    good, letters = check(f"fj/cell/fz-gulou-001/{cell}", [
        {"device": cell, "seq": 7, "ts": "2026-12-05T03:00:00Z", "available_s": 1000,
         "period_s": 900, "prb_util": 1.5, "rrc_users": 118, "dl_mbps": 612.0, "ul_mbps": 71.0},
        {"device": cell, "seq": 8, "ts": "2026-12-05T03:15:00Z", "available_s": 900,
         "period_s": 900, "prb_util": 0.4, "rrc_users": 90, "dl_mbps": 500.0, "ul_mbps": 60.0}])
    assert good[0] == {"device": cell, "seq": 7, "ts": "2026-12-05T03:00:00Z",
                       "available_s": None, "period_s": 900.0, "prb_util": None,
                       "rrc_users": 118, "dl_mbps": 612.0, "ul_mbps": 71.0}
    assert good[1]["available_s"] == 900
    assert [r for r, _ in letters] == [
        "reading [0]: impossible value: available_s 1000 exceeds period_s 900",
        "reading [0]: impossible value: prb_util 1.5 is above 1"]
    assert letters[1][1] == {"device": cell, "seq": 7, "ts": "2026-12-05T03:00:00Z",
                             "prb_util": 1.5}


def test_a_buoy_reading_whose_every_value_is_impossible_goes_nowhere():
    good, letters = check("fj/buoy/pingtan-b1/pingtan-b1-b1", {
        "device": "pingtan-b1-b1", "seq": 3, "ts": "2026-12-05T03:00:00Z",
        "ph": 15, "wave_height_m": -1})
    assert good == []
    assert [r for r, _ in letters] == [
        "impossible value: ph 15.0 pH is impossible (outside [0.0, 14.0])",
        "impossible value: wave_height_m -1.0 m is impossible (outside [0.0, 40.0])"]


def test_each_kind_has_an_earliest_time_that_suits_its_instrument():
    old_tide = {"device": "xiamen-tg1", "seq": 1, "ts": "1998-01-01T00:00:00Z", "level_m": 1.2}
    good, letters = check("fj/tide/xiamen-tide/xiamen-tg1", old_tide)
    assert len(good) == 1 and letters == []  # a tide gauge's history is old
    reset = {"device": "changle-dc1-m01", "seq": 1, "ts": "1970-01-01T00:00:00Z",
             "circuit": "facility", "kw": 800.0, "kwh": 1.0}
    good, letters = check("fj/power/changle-dc1/changle-dc1-m01", reset)
    assert good == []
    assert letters[0][0] == (
        "timestamp 1970-01-01T00:00:00+00:00 is before power.earliest_ts "
        "(2010-01-01T00:00:00+00:00): a wrong clock, or set FJSENSE_POWER__EARLIEST_TS for "
        "older records")


def test_earliest_ts_is_a_setting_per_kind(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FJSENSE_TIDE__EARLIEST_TS", "2000-01-01T00:00:00Z")
    settings = Settings()
    assert settings.tide.earliest_ts == datetime(2000, 1, 1, tzinfo=UTC)
    good, letters = check("fj/tide/xiamen-tide/xiamen-tg1", {
        "device": "xiamen-tg1", "seq": 1, "ts": "1998-01-01T00:00:00Z", "level_m": 1.2},
        settings)
    assert good == [] and "is before tide.earliest_ts (2000-01-01T00:00:00+00:00)" in \
        letters[0][0]
    assert settings.buoy.earliest_ts == datetime(1970, 1, 1, tzinfo=UTC)
    assert NOW - timedelta(days=3 * 365) > settings.cell.earliest_ts
