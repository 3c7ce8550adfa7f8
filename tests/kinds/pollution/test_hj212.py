"""HJ 212-2017 packets: the standard's CRC example, parsing of real packets from the standard
and from public implementations, and the refusals a gateway owes a bad packet."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kinds.pollution.hj212 import PacketError, crc16, frame, parse, parse_segment, reply, unframe

# the standard's own example (HJ 212-2017, Appendix A): its CRC is 1C80
STANDARD = ("QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
            "CP=&&RtdInterval=30&&")
# a real-time data segment as published with the T212 Java library (github.com/xiaoyao9184/hj-t212-parser)
T212_RTD = ("ST=32;CN=2011;PW=123456;MN=LD130133000015;CP=&&DataTime=20160824003817;"
            "B01-Rtd=36.91;011-Rtd=231.0,011-Flag=N;060-Rtd=1.803,060-Flag=N&&")


def test_the_standard_crc_example():
    assert crc16(STANDARD.encode()) == 0x1C80
    assert frame(STANDARD) == b"##0101" + STANDARD.encode() + b"1C80\r\n"
    assert unframe(b"##0101" + STANDARD.encode() + b"1C80\r\n") == STANDARD


def test_a_packet_with_the_modbus_crc_is_refused_saying_which_crc_fits():
    # many devices send CRC-16/MODBUS (0759 for the standard's example): not HJ 212's
    with pytest.raises(PacketError, match="CRC 0759 does not match the data segment's 1C80"):
        unframe(b"##0101" + STANDARD.encode() + b"0759\r\n")
    # a zero-calibration command from a public C implementation (zhbhjt), Modbus CRC too
    zhbhjt = (b"##0086QN=20170516010101001;ST=22;CN=3011;PW=123456;MN=ABCDEFG1234567;Flag=3;"
              b"CP=&&PolId=101&&8CF8\r\n")
    with pytest.raises(PacketError, match="CRC 8CF8 does not match the data segment's E8C1"):
        unframe(zhbhjt)
    assert parse_segment(zhbhjt[6:-6].decode()).cp == {"PolId": "101"}


@pytest.mark.parametrize("line,reason", [
    (b"##0100" + STANDARD.encode() + b"1C80", "length says 100 bytes, the data segment has 101"),
    (b"##01a1" + STANDARD.encode() + b"1C80", "length b'01a1' is not 4 decimal digits"),
    (b"#0101" + STANDARD.encode() + b"1C80", "packet does not start with ##"),
    (b"##0101" + STANDARD.encode() + b"1CXG", "CRC b'1CXG' is not 4 hex digits"),
    (b"##12", "shorter than a header and a CRC"),
])
def test_a_malformed_frame_says_what_is_wrong(line: bytes, reason: str):
    with pytest.raises(PacketError, match=reason.replace("(", r"\(")):
        unframe(line)


def test_a_real_time_packet_gives_its_factors_and_utc_time():
    packet = parse_segment(T212_RTD)
    assert packet.cn == "2011" and packet.mn == "LD130133000015"
    assert packet.data_time == datetime(2016, 8, 23, 16, 38, 17, tzinfo=UTC)  # Beijing − 8 h
    assert packet.factors["011"].values == {"Rtd": 231.0} and packet.factors["011"].flag == "N"
    assert packet.factors["B01"].values == {"Rtd": 36.91} and packet.factors["B01"].flag is None
    round_trip = parse(frame(T212_RTD))
    assert round_trip == packet


def test_hourly_data_carries_avg_min_max_and_load():
    segment = ("QN=20260601100000001;ST=32;CN=2061;PW=pw;MN=350104LBWS000000000001;Flag=5;"
               "CP=&&DataTime=20260601090000;w01018-Avg=21.5,w01018-Min=18.0,w01018-Max=26.4,"
               "w01018-Cou=24.77,w01018-Flag=N&&")
    factor = parse_segment(segment).factors["w01018"]
    assert factor.values == {"Avg": 21.5, "Min": 18.0, "Max": 26.4, "Cou": 24.77}


@pytest.mark.parametrize("segment,reason", [
    ("ST=32;CN=2011;PW=1;MN=x;CP=&&DataTime=20260601090000;w01018-Rtd=abc&&",
     "w01018-Rtd 'abc' is not a number"),
    ("ST=32;CN=2011;PW=1;MN=x;CP=&&w01018-Rtd=1,w01018-Flag=Q&&", "w01018-Flag 'Q' is not one"),
    ("ST=32;CN=2011;PW=1;MN=x;CP=&&w01018-Rtd=NaN&&", "is not a finite number"),
    ("ST=32;CN=2011;PW=1;CP=&&&&", "data segment has no MN"),
    ("ST=32;CN=2011;PW=1;MN=x", "data segment has no CP=&&…&&"),
])
def test_a_bad_data_segment_says_what_is_wrong(segment: str, reason: str):
    with pytest.raises(PacketError, match=reason):
        parse_segment(segment)


def test_replies_follow_the_flag():
    data = parse(frame("QN=20260601100000000;ST=32;CN=2011;PW=pw;MN=M1;Flag=5;"
                       "CP=&&DataTime=20260601100000;w01018-Rtd=20,w01018-Flag=N&&"))
    answer = reply(data)
    assert answer is not None
    assert unframe(answer) == "QN=20260601100000000;ST=91;CN=9014;PW=pw;MN=M1;Flag=4;CP=&&&&"
    silent = parse(frame("QN=1;ST=32;CN=2011;PW=pw;MN=M1;Flag=4;CP=&&DataTime=20260601100000&&"))
    assert reply(silent) is None
    request = reply(parse(frame(STANDARD)))
    assert request is not None and unframe(request).endswith("CN=9011;PW=100000;"
                                                             "MN=010000A8900016F000169DC0;"
                                                             "Flag=4;CP=&&QnRtn=1&&")
