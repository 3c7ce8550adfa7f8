"""GB 3097-1997 classes against a hand-computed table; the hourly class per station."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.buoy.ecology import bloom_risk, quality_class
from kinds.buoy.kind import BuoyStation, CheckedReading, Gb3097
from kinds.buoy.processor import QualityProcessor
from streams.contract import Batch

# by hand from GB 3097-1997 table 1 (DO > 6/5/4/3; pH 7.8-8.5 for I-II, 6.8-8.8 for III-IV;
# DIN ≤ 0.20/0.30/0.40/0.50; PO4 ≤ 0.015/0.030/0.030/0.045; COD ≤ 2/3/4/5)
HAND = [
    ({"do_mg_l": 6.5, "ph": 8.1}, (1, "do_mg_l,ph")),
    ({"do_mg_l": 6.0, "ph": 8.1}, (2, "do_mg_l")),  # DO must exceed 6 for class I
    ({"do_mg_l": 4.5, "ph": 8.1}, (3, "do_mg_l")),
    ({"do_mg_l": 7.0, "ph": 8.7}, (3, "ph")),
    ({"do_mg_l": 3.5, "ph": 8.1, "din_mg_l": 0.25}, (4, "do_mg_l")),
    ({"do_mg_l": 2.5, "ph": 8.1}, (5, "do_mg_l")),
    ({"do_mg_l": 7.0, "ph": 9.0}, (5, "ph")),
    ({"do_mg_l": 7.0, "ph": 8.0, "din_mg_l": 0.35, "po4_mg_l": 0.02}, (3, "din_mg_l")),
    ({"do_mg_l": 7.0, "ph": 8.0, "po4_mg_l": 0.04}, (4, "po4_mg_l")),
    ({"do_mg_l": 5.5, "ph": 8.0, "cod_mg_l": 2.5}, (2, "do_mg_l,cod_mg_l")),
    ({"do_mg_l": 7.0, "cod_mg_l": 6.0}, (5, "cod_mg_l")),
]


@pytest.mark.parametrize(("values", "expected"), HAND)
def test_quality_class_matches_the_hand_computed_table(values: dict, expected: tuple) -> None:
    assert quality_class(values, Gb3097()) == expected


def test_no_classed_parameter_no_class() -> None:
    assert quality_class({"chl_ug_l": 3.0}, Gb3097()) is None


def test_hourly_class_from_the_hours_passing_means(tmp_path: Path) -> None:
    proc = QualityProcessor(Settings(stack={"home": tmp_path}), load_catalog(None))
    state = proc.load_state({})
    t0 = datetime(2026, 8, 1, 10, tzinfo=UTC)

    def reading(minutes: int, do: float | None, ph: float) -> CheckedReading:
        return CheckedReading(site="minjiang-eco1", device="minjiang-eco1-b1", seq=minutes,
                              ts=t0 + timedelta(minutes=minutes), do_mg_l=do, ph=ph)

    first = [reading(m, do, 8.0) for m, do in ((0, 5.2), (20, 4.6), (40, None))]
    assert proc.step(state, Batch("minjiang-eco1", first, 0)) == []
    out = proc.step(state, Batch("minjiang-eco1", [reading(71, 6.5, 8.0)], 0))
    hour = out[0].value
    assert (hour.hour, hour.quality_class, hour.class_label, hour.limiting) == (
        t0, 3, "III", "do_mg_l")
    assert (hour.do_mg_l, hour.samples, hour.target_class, hour.class_excess, hour.qc) == (
        4.9, 3, 3, 0, 1)
    proc.step(state, Batch("minjiang-eco1", [reading(30, 1.0, 8.0)], 0))  # hour already final
    assert state.late == 1


def test_bloom_risk_needs_chlorophyll_and_a_sign_of_photosynthesis() -> None:
    assert bloom_risk(12.0, 2.0, 100.0, 8.1, 8.1, 3.0, 120.0, 0.3) == 0.0
    assert bloom_risk(2.0, 2.0, 150.0, 8.6, 8.1, 3.0, 120.0, 0.3) == 0.0
    assert bloom_risk(8.0, 2.0, 130.0, None, None, 3.0, 120.0, 0.3) == 1.0
    assert bloom_risk(4.0, 2.0, 110.0, None, None, 3.0, 120.0, 0.3) == pytest.approx(0.5)


def test_an_hour_with_flagged_classed_values_is_doubtful(tmp_path: Path) -> None:
    proc = QualityProcessor(Settings(stack={"home": tmp_path}), load_catalog(None))
    state = proc.load_state({})
    t0 = datetime(2026, 8, 1, 10, tzinfo=UTC)
    stuck = CheckedReading(site="fuzhou-nb2", device="fuzhou-nb2-b1", seq=1, ts=t0, ph=8.1,
                           qc_flags={"do_mg_l": 4, "ph": 1})  # its DO failed QC: left out
    later = CheckedReading(site="fuzhou-nb2", device="fuzhou-nb2-b1", seq=2,
                           ts=t0 + timedelta(minutes=75), ph=8.1, qc_flags={"ph": 1})
    [out] = proc.step(state, Batch("fuzhou-nb2", [stuck, later], 0))
    assert (out.value.quality_class, out.value.limiting, out.value.qc) == (1, "ph", 3)


def test_a_station_climatology_of_an_unknown_variable_is_refused() -> None:
    with pytest.raises(ValueError, match="no such buoy variable: salinty"):
        BuoyStation(climatology={"salinty": (0.0, 35.0)})
