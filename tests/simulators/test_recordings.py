"""Recorded-file readers: NDBC historical and realtime2 formats, fills and bad lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.recordings import read_recording

NDBC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ndbc" / "buoy_44005_2012.dat"

REALTIME_STDMET = """\
#YY  MM DD hh mm WDIR WSPD GST  WVHT   DPD   APD MWD   PRES  ATMP  WTMP  DEWP  VIS PTDY  TIDE
#yr  mo dy hr mn degT m/s  m/s     m   sec   sec degT   hPa  degC  degC  degC  nmi  hPa    ft
2026 11 22 09 50 120  7.1  9.0   1.2   6.5   5.1 110 1016.2  20.1  18.4    MM   MM   MM    MM
2026 11 22 09 40  MM  6.8  8.7    MM    MM    MM  MM 1016.3  20.0  18.4    MM   MM   MM    MM
2026 11 22 09 30 118  6.5  8.1   1.1   6.7   5.0 112 1016.4 bad!  18.3    MM   MM   MM    MM
"""

REALTIME_OCEAN = """\
#YY  MM DD hh mm   DEPTH  OTMP   COND   SAL   O2% O2PPM  CLCON  TURB    PH    EH
#yr  mo dy hr mn       m  degC  mS/cm   psu     %   ppm   ug/l   FTU     -    mV
2026 11 22 09 45     0.5 18.40  46.10 30.20  92.0  6.10   2.30  4.00  8.05 180.0
2026 11 22 09 30     0.5 18.38     MM 30.21  91.5  6.05     MM    MM  8.04    MM
"""


def test_historical_stdmet_maps_columns_and_leaves_nine_fills_out() -> None:
    found = read_recording(NDBC)
    assert (found.format, found.kind, len(found.rows), found.problems) == (
        "NDBC historical stdmet", "buoy", 8347, [])
    first = found.rows[0]
    assert first.ts == datetime(2011, 12, 31, 23, 50, tzinfo=UTC)
    assert first.values == {"wind_dir_deg": 316.0, "wind_speed_m_s": 4.8, "wind_gust_m_s": 6.0,
                            "wave_height_m": 0.92, "wave_period_s": 5.56, "pressure_hpa": 1008.1,
                            "air_temp_c": 6.8, "water_temp_c": 8.1}  # MWD 999: missing
    fills = {"wind_dir_deg": 999, "wind_speed_m_s": 99, "wind_gust_m_s": 99,
             "wave_height_m": 99, "wave_period_s": 99, "pressure_hpa": 9999, "air_temp_c": 999,
             "water_temp_c": 999}  # a wind from 99° is a value, 99 m/s is NDBC's fill
    assert not [(r.line, n) for r in found.rows for n, v in r.values.items() if v == fills[n]]
    assert sum("wave_height_m" not in r.values for r in found.rows) == 29  # its 99.00 fills


def test_realtime2_stdmet_newest_first_mm_missing_bad_line_reported(tmp_path: Path) -> None:
    path = tmp_path / "44005.txt"
    path.write_text(REALTIME_STDMET)
    found = read_recording(path)
    assert found.format == "NDBC realtime2 stdmet"
    assert [r.ts.minute for r in found.rows] == [40, 50]  # in time order
    assert found.rows[0].values == {"wind_speed_m_s": 6.8, "wind_gust_m_s": 8.7,
                                    "pressure_hpa": 1016.3, "air_temp_c": 20.0,
                                    "water_temp_c": 18.4}
    assert found.problems == ["line 5: could not convert string to float: 'bad!'"]


def test_realtime2_ocean(tmp_path: Path) -> None:
    path = tmp_path / "44005.ocean"
    path.write_text(REALTIME_OCEAN)
    found = read_recording(path)
    assert found.format == "NDBC realtime2 ocean"
    assert found.rows[1].values == {
        "depth_m": 0.5, "water_temp_c": 18.4, "conductivity_ms_cm": 46.1, "salinity_psu": 30.2,
        "do_sat_pct": 92.0, "do_mg_l": 6.1, "chl_ug_l": 2.3, "turbidity_ntu": 4.0, "ph": 8.05,
        "redox_mv": 180.0}
    assert "conductivity_ms_cm" not in found.rows[0].values


def test_an_unknown_format_is_refused_with_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("time,level\n2026-01-01,1.0\n")
    with pytest.raises(ValueError, match="not a format replay knows.*time,level"):
        read_recording(path)


UHSLC = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "uhslc" / "HNL2010.asc"


def test_uhslc_hourly_sea_level_is_read_to_the_second_in_metres() -> None:
    found = read_recording(UHSLC)
    assert (found.kind, len(found.rows), found.problems) == ("tide", 8760, [])
    assert found.rows[0].ts == datetime(2010, 1, 1, tzinfo=UTC)
    assert found.rows[0].values == {"level_m": 1.237}
    assert found.rows[-1].ts == datetime(2010, 12, 31, 23, tzinfo=UTC)
    assert len({r.ts for r in found.rows}) == 8760


def test_uhslc_fills_are_missing_and_bad_lines_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "x.asc"
    path.write_text("113225.0000000  1237\n113225.0416667 -32767\n113225.0833333  12x7\n")
    found = read_recording(path)
    assert [r.values for r in found.rows] == [{"level_m": 1.237}, {}]
    assert found.problems == ["line 3: could not convert string to float: '12x7'"]


@pytest.mark.parametrize("header", ["t,v,s,f,q", "Date Time, Water Level, Sigma, I, L"])
def test_coops_csv_in_either_header_style(tmp_path: Path, header: str) -> None:
    path = tmp_path / "coops.csv"
    path.write_text(f"{header}\n2026-11-22 09:00,3.412,0.003,0,0\n2026-11-22 10:00,,,,\n"
                    "2026-11-22 11:00,3.380,0.003,0,0\nyesterday,1.0,0,0,0\n")
    found = read_recording(path)
    assert found.kind == "tide"
    assert [(r.ts.hour, r.values) for r in found.rows] == [
        (9, {"level_m": 3.412}), (10, {}), (11, {"level_m": 3.38})]
    assert found.problems == [
        "line 5: time data 'yesterday' does not match format '%Y-%m-%d %H:%M'"]
