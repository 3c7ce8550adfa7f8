"""QARTOD QC on a real instrument record (NDBC 44005, 2012) with injected faults, and the
buoy processor's outputs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from fjsense.catalog import load_catalog
from fjsense.kinds.buoy import DEFAULT_QC, OBSERVATIONS, VariableQc, BuoyReading
from fjsense.settings import Settings
from simulators.qc_faults import FaultPlan, inject
from simulators.recordings import read_recording
from streams.buoy_processor import BuoyQcProcessor
from streams.contract import Batch
from streams.qartod import FAIL, MISSING, PASS, SUSPECT, check

NDBC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ndbc" / "buoy_44005_2012.dat"
GULF_OF_MAINE = {"water_temp_c": (2.0, 25.0), "air_temp_c": (-20.0, 35.0)}  # 44005's climate


def judge(rows: list, qc: dict[str, VariableQc]) -> dict[tuple[int, str], int]:
    state: dict[str, dict] = {}
    return {(row.line, name): check(qc[name], GULF_OF_MAINE.get(name), state.setdefault(name, {}),
                                    row.ts.timestamp(), value, 3 * 3600).flag
            for row in rows for name, value in row.values.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qc_catches_injected_faults_on_a_real_record_and_spares_the_rest(seed: int) -> None:
    rows = read_recording(NDBC).rows
    faulty, touched = inject(rows, DEFAULT_QC, FaultPlan(), seed)
    flags = judge(faulty, DEFAULT_QC)
    hit = sum(flags[p] in (SUSPECT, FAIL) for p in touched) / len(touched)
    rest = [f for p, f in flags.items() if p not in touched]
    failed = sum(f == FAIL for f in rest) / len(rest)
    suspect = sum(f == SUSPECT for f in rest) / len(rest)
    print(f"seed {seed}: {len(touched)} injected points flagged {hit:.1%}; of {len(rest)} "
          f"untouched, {failed:.2%} fail and {suspect:.2%} suspect")
    assert hit >= 0.95
    assert failed <= 0.01
    assert suspect <= 0.03


def test_each_test_raises_its_flag() -> None:
    qc = DEFAULT_QC["water_temp_c"]
    st: dict = {}
    hour = 3600.0
    assert check(qc, None, st, 0, 20.0, 3 * hour).flag == PASS
    assert check(qc, None, st, hour, 20.4, 3 * hour).flag == PASS
    spike = check(qc, None, st, 2 * hour, 29.0, 3 * hour)
    assert (spike.flag, spike.tests) == (FAIL, ("rate_of_change", "spike"))
    after = check(qc, None, st, 3 * hour, 20.5, 3 * hour)  # the spike is not its neighbour
    assert after.flag == PASS
    assert check(qc, None, st, 4 * hour, 50.0, 3 * hour).tests[0] == "gross_range"
    assert check(qc, (21.0, 30.0), st, 5 * hour, 20.6, 3 * hour).tests == ("climatology",)
    assert check(qc, None, st, 6 * hour, None, 3 * hour).flag == MISSING
    stuck: dict = {}
    flags = [check(qc, None, stuck, k * hour, 18.0, 3 * hour).flag for k in range(26)]
    assert flags[:12] == [PASS] * 12 and flags[12] == SUSPECT and flags[24:] == [FAIL, FAIL]


def processor(tmp_path: Path) -> BuoyQcProcessor:
    settings = Settings(stack={"home": tmp_path})
    return BuoyQcProcessor(settings, load_catalog(None))


def test_processor_stores_every_variable_with_its_flag_and_passes_only_good_values(
        tmp_path: Path) -> None:
    proc = processor(tmp_path)
    state: dict = {}
    ts = datetime(2026, 11, 22, 9, tzinfo=UTC)
    reading = BuoyReading(device="minjiang-eco1-b1", seq=77, ts=ts, water_temp_c=18.4,
                          salinity_psu=30.2, do_mg_l=6.1, ph=8.05, chl_ug_l=2.3,
                          wave_height_m=30.0)
    outputs = proc.step(state, Batch("minjiang-eco1", [reading], ts.timestamp()))
    observations = {o.value.variable: o.value for o in outputs if o.topic == OBSERVATIONS.topic}
    assert set(observations) == {"water_temp_c", "salinity_psu", "do_mg_l", "ph", "chl_ug_l",
                                 "wave_height_m"}
    assert observations["do_mg_l"].qc == PASS and observations["do_mg_l"].value == 6.1
    assert (observations["wave_height_m"].qc, observations["wave_height_m"].tests) == (
        FAIL, "gross_range")
    checked = next(o.value for o in outputs if o.topic == "fj.derived.buoy")
    assert checked.wave_height_m is None and checked.qc_flags["wave_height_m"] == FAIL
    assert checked.do_mg_l == 6.1
    # TEOS-10 solubility at 18.4 °C, 30.2 psu is 7.83 mg/L: 6.1 mg/L is 77.9 %
    assert checked.do_sat_pct == pytest.approx(77.9, abs=0.2)
