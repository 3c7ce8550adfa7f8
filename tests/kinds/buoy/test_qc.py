"""QARTOD QC on two real instrument records from different waters, with injected faults: NDBC
44005 (Gulf of Maine, open coast, hourly, all of 2012) and NDBC WYSS1 (Winyah Bay estuary, a
NERRS sonde, 15-minute, five days of August 2026); and the buoy processor's outputs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from kinds.buoy.kind import DEFAULT_QC, OBSERVATIONS, BuoyReading, BuoyStation, VariableQc
from kinds.buoy.processor import BuoyQcProcessor
from kinds.buoy.qc_faults import FaultPlan, inject
from simulators.recordings import read_recording
from streams.contract import Batch
from streams.qartod import FAIL, MISSING, PASS, SUSPECT, VariableState, check
from tests.paths import DATA, SHARED

HOUR = 3600.0


@dataclass(frozen=True)
class RealRecord:
    """A real record, the catalog entry of its station, and faults fit for its sampling."""

    path: Path
    station: BuoyStation
    plan: FaultPlan


# Stuck runs of 3-6 hours go only into variables whose flat-line window is shorter than that:
# water and air temperature and the wave period of 44005, and the estuary's temperature, pH,
# depth and turbidity, are reported to 0.1 and stay unchanged for hours in real water, so no
# flat-line test can tell a 3-hour stuck run of them from the sea (their windows are hours).
RECORDS = {
    # open coast, hourly: the Gulf of Maine's own climate; its wind and waves are hourly means,
    # of which one repeat is already rare (4-5 % of hours), so one repeat is suspect there
    "44005": RealRecord(
        SHARED / "ndbc" / "buoy_44005_2012.dat",
        BuoyStation(interval_seconds=3600,
                    climatology={"water_temp_c": (2.0, 25.0), "air_temp_c": (-20.0, 35.0)},
                    qc={v: {"flat_counts": (1, 3)} for v in (
                        "wind_speed_m_s", "wind_gust_m_s", "wind_dir_deg", "wave_height_m")}),
        FaultPlan(stuck_rows=(3, 6), stuck_variables=(
            "wind_speed_m_s", "wind_gust_m_s", "wind_dir_deg", "wave_height_m",
            "pressure_hpa"))),
    # estuary, 15-minute: brackish water (salinity 5-18 psu, pH 6.9-8.0), and DO that swings
    # by 40 % saturation within 15 minutes as the tide and the day's light move it
    "wyss1": RealRecord(
        DATA / "ndbc" / "wyss1_2026-08.ocean",
        BuoyStation(interval_seconds=900,
                    climatology={"salinity_psu": (0.0, 35.0), "conductivity_ms_cm": (0.0, 60.0),
                                 "ph": (6.5, 8.5)},
                    qc={"do_sat_pct": {"rate_per_s": 160 / HOUR},
                        "do_mg_l": {"rate_per_s": 12 / HOUR},
                        "ph": {"rate_per_s": 1.6 / HOUR}}),
        FaultPlan(spikes=40, out_of_range=15, stuck_runs=6, stuck_rows=(12, 24),
                  stuck_variables=("salinity_psu", "conductivity_ms_cm", "do_mg_l",
                                   "do_sat_pct"))),
}


def judge(rows: list, qc: dict[str, VariableQc]) -> dict[tuple[int, str], int]:
    state: dict[str, VariableState] = {}
    return {(row.line, name): check(qc[name], None, state.setdefault(name, VariableState()),
                                    row.ts.timestamp(), value, 3 * HOUR).flag
            for row in rows for name, value in row.values.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("record", sorted(RECORDS))
def test_qc_catches_injected_faults_on_real_records_and_spares_the_rest(record: str,
                                                                       seed: int) -> None:
    real = RECORDS[record]
    rows = read_recording(real.path).rows
    qc = real.station.thresholds(DEFAULT_QC)
    faulty, touched = inject(rows, qc, real.plan, seed)
    flags = judge(faulty, qc)
    hit = sum(flags[p] in (SUSPECT, FAIL) for p in touched) / len(touched)
    rest = [f for p, f in flags.items() if p not in touched]
    failed = sum(f == FAIL for f in rest) / len(rest)
    suspect = sum(f == SUSPECT for f in rest) / len(rest)
    print(f"| {record} | {seed} | {len(touched)} | {hit:.1%} | {len(rest)} | {failed:.2%} | "
          f"{suspect:.2%} |")
    assert hit >= 0.95
    assert failed <= 0.01
    assert suspect <= 0.05


def test_a_stuck_estuary_salinity_is_caught_within_the_hour_by_the_defaults() -> None:
    """The estuary's own complaint: six hours of one salinity at a 15-minute sonde. With the
    defaults alone (no station thresholds) the flat line counts repeated observations at the
    station's interval: suspect after 30 minutes, fail after an hour."""
    qc = BuoyStation(interval_seconds=900).thresholds(DEFAULT_QC)["salinity_psu"]
    assert qc.flat_s == (1800, 3600)
    hourly = BuoyStation(interval_seconds=3600).thresholds(DEFAULT_QC)["salinity_psu"]
    assert hourly.flat_s == (7200, 14400)
    state = VariableState()
    flags = [check(qc, (0.0, 35.0), state, k * 900.0, 12.4, 3 * HOUR).flag for k in range(25)]
    assert flags[:2] == [PASS, PASS] and flags[2:4] == [SUSPECT, SUSPECT]
    assert set(flags[4:]) == {FAIL}


def test_every_threshold_can_be_set_per_station_and_a_misspelt_one_is_refused() -> None:
    station = BuoyStation(interval_seconds=900, qc={
        "salinity_psu": {"spike": (1.0, 2.0), "flat_s": (600, 1200), "sensor": (0, 40)},
        "ph": {"climate": (6.5, 8.5), "rate_per_s": 0.001}})
    qc = station.thresholds(DEFAULT_QC)
    assert (qc["salinity_psu"].spike, qc["salinity_psu"].flat_s, qc["salinity_psu"].sensor) == (
        (1.0, 2.0), (600, 1200), (0, 40))
    assert (qc["ph"].climate, qc["ph"].rate_per_s) == ((6.5, 8.5), 0.001)
    assert qc["water_temp_c"] == DEFAULT_QC["water_temp_c"]
    with pytest.raises(ValueError, match="salinity_psu: no such QC threshold: flat_hours"):
        BuoyStation(qc={"salinity_psu": {"flat_hours": (1, 2)}})
    with pytest.raises(ValueError, match="no such variable: salinty"):
        BuoyStation(qc={"salinty": {"spike": (1, 2)}})
    with pytest.raises(ValueError, match="spike must be"):
        BuoyStation(qc={"ph": {"spike": (0.8, 0.4)}})


def test_each_test_raises_its_flag() -> None:
    qc = DEFAULT_QC["water_temp_c"]
    st = VariableState()
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
    stuck = VariableState()
    flags = [check(qc, None, stuck, k * hour, 18.0, 3 * hour).flag for k in range(26)]
    assert flags[:12] == [PASS] * 12 and flags[12] == SUSPECT and flags[24:] == [FAIL, FAIL]


def processor(tmp_path: Path) -> BuoyQcProcessor:
    settings = Settings(stack={"home": tmp_path})
    return BuoyQcProcessor(settings, load_catalog(None))


def test_processor_stores_every_variable_with_its_flag_and_passes_only_good_values(
        tmp_path: Path) -> None:
    proc = processor(tmp_path)
    state = proc.load_state({})
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
