"""Recorded-file readers: NDBC historical and realtime2 formats, fills and bad lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from simulators.recordings import read_recording
from tests.paths import DATA, SHARED

NDBC = SHARED / "ndbc" / "buoy_44005_2012.dat"

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


UHSLC = SHARED / "uhslc" / "HNL2010.asc"


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
        "line 5: time 'yesterday' is in neither '%Y-%m-%d %H:%M' nor ISO 8601"]


CAN1998 = DATA / "tide" / "can1998_uhslc_fast.csv"
WYSS1 = DATA / "ndbc" / "wyss1_2026-08.ocean"


def test_uhslc_fast_delivery_csv_of_a_1990s_record() -> None:
    """UTide's example record (hourly, January 1998) in UHSLC's fast-delivery CSV form."""
    found = read_recording(CAN1998)
    assert (found.format, found.kind, len(found.rows), found.problems) == (
        "UHSLC fast-delivery hourly CSV (year,month,day,hour,mm)", "tide", 380, [])
    assert (found.rows[0].ts, found.rows[0].values) == (
        datetime(1998, 1, 1, tzinfo=UTC), {"level_m": 1.2})
    assert (found.rows[-1].ts, found.rows[-1].values) == (
        datetime(1998, 1, 16, 19, tzinfo=UTC), {"level_m": 2.11})


def test_uhslc_two_columns_with_iso_times(tmp_path: Path) -> None:
    path = tmp_path / "hnl.asc"
    path.write_text("".join(f"{r.ts.isoformat()} {round(r.values['level_m'] * 1000)}\n"
                            for r in read_recording(UHSLC).rows[:24]))
    found = read_recording(path)
    assert found.format.startswith("UHSLC hourly sea level") and found.problems == []
    assert [(r.ts, r.values) for r in found.rows] == [
        (r.ts, r.values) for r in read_recording(UHSLC).rows[:24]]


def test_uhslc_fast_fills_iso_times_and_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "h057.csv"
    path.write_text("1998,1,1,0,1200\n1998,1,1,1,-32767\n1998-01-01T02:00:00Z,1730\n"
                    "1998,1,1,3\n1998,13,1,4,2380\n")
    found = read_recording(path)
    assert [(r.ts.hour, r.values) for r in found.rows] == [
        (0, {"level_m": 1.2}), (1, {}), (2, {"level_m": 1.73})]
    assert found.problems == ["line 4: 4 fields, not year,month,day,hour,mm",
                              "line 5: month must be in 1..12"]


def coops_rows_of_honolulu(hours: int) -> list[tuple[datetime, float]]:
    """The first hours of the real UHSLC Honolulu 2010 record (the same gauge CO-OPS serves as
    1612340), for the CO-OPS forms below."""
    return [(r.ts, r.values["level_m"]) for r in read_recording(UHSLC).rows[:hours]]


@pytest.mark.parametrize("stamp", ["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S+00:00",
                                   "%Y-%m-%d %H:%M"])
def test_coops_csv_with_iso_times(tmp_path: Path, stamp: str) -> None:
    rows = coops_rows_of_honolulu(48)
    path = tmp_path / "coops t v s.csv"
    path.write_text("t,v,s\n" + "".join(f"{ts.strftime(stamp)},{v:.3f},0.003\n"
                                        for ts, v in rows))
    found = read_recording(path)
    assert found.problems == []
    assert [(r.ts, r.values["level_m"]) for r in found.rows] == rows


def test_an_iso_time_with_an_offset_is_read_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "coops.csv"
    path.write_text("t,v,s\n2010-01-01T08:00:00+08:00,1.237,0.003\n")
    assert read_recording(path).rows[0].ts == datetime(2010, 1, 1, tzinfo=UTC)


def test_coops_json_api(tmp_path: Path) -> None:
    rows = coops_rows_of_honolulu(24)
    items = [{"t": ts.strftime("%Y-%m-%d %H:%M"), "v": f"{v:.3f}", "s": "0.003",
              "f": "0,0,0,0", "q": "v"} for ts, v in rows]
    items[3]["v"] = ""  # a gap, as the API sends it
    path = tmp_path / "coops.json"
    path.write_text(json.dumps({"metadata": {"id": "1612340", "name": "Honolulu",
                                             "lat": "21.3033", "lon": "-157.8645"},
                                "data": items + [{"v": "1.0"}]}))
    found = read_recording(path)
    assert found.format == "NOAA CO-OPS water level JSON (m, GMT)"
    assert [(r.ts, r.values.get("level_m")) for r in found.rows] == [
        (ts, None if n == 3 else v) for n, (ts, v) in enumerate(rows)]
    assert found.problems == ["item 25: not an object with a time 't'"]
    error = tmp_path / "error.json"
    error.write_text('{"error": {"message": " No data was found. This product may not be '
                     'offered at this station at the requested time."}}')
    with pytest.raises(ValueError, match="CO-OPS API answered an error: No data was found"):
        read_recording(error)


def test_a_file_of_which_no_row_is_readable_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "coops.csv"
    path.write_text("t,v,s\n" + "".join(f"01/{d:02d}/2005 01:00,1.0,0.1\n" for d in range(1, 9)))
    with pytest.raises(ValueError) as caught:
        read_recording(path)
    message = str(caught.value)
    assert "NOAA CO-OPS water level CSV (m, GMT), but no row could be read: 8 lines not read:" \
        in message
    assert message.count("line ") == 5 and message.endswith("; and 3 more")


def test_the_estuary_record_realtime2_ocean() -> None:
    found = read_recording(WYSS1)
    assert (found.format, len(found.rows), found.problems) == ("NDBC realtime2 ocean", 499, [])
    assert found.rows[0].ts == datetime(2026, 8, 18, 10, tzinfo=UTC)
    assert sum("turbidity_ntu" not in r.values for r in found.rows) == 1  # one TURB of MM
