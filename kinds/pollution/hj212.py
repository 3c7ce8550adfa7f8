"""HJ 212-2017, the Chinese online pollution-monitoring protocol: packets, CRC, data segment.

A packet is ``##`` + the data segment's length in 4 decimal digits + the data segment + its
CRC16 in 4 hex digits + ``\\r\\n``. The data segment is ``QN=…;ST=…;CN=…;PW=…;MN=…;Flag=…;
CP=&&…&&`` (QN, the request number, is a Beijing-time stamp ``YYYYMMDDhhmmsszzz``; Flag's bit 0
asks for a reply, bit 1 says the packet is one of several, with PNUM and PNO). Inside CP,
``DataTime=YYYYMMDDhhmmss`` (Beijing time) and per factor ``code-Rtd=…,code-Flag=N`` (or Avg,
Min, Max, Cou) separated by ``;``.

The CRC is the standard's own CRC16 (its Appendix: register 0xFFFF; per byte, register =
(register >> 8) XOR byte, then 8 times: shift right, XOR 0xA001 when the bit shifted out was
1), over the data segment; the standard's example ``QN=20160801085857223;ST=32;CN=1062;
PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&`` gives 1C80.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BEIJING = timedelta(hours=8)
MAX_SEGMENT = 9999  # four decimal digits of length
FLAGS = ("N", "F", "M", "S", "D", "C", "T", "B")  # HJ 212-2017 data flags (Table 5)
DATA_COMMANDS = {"2011": "real-time", "2051": "minute", "2061": "hourly", "2031": "daily"}
FIELDS = ("Rtd", "Avg", "Min", "Max", "Cou", "Flag")
_CODE = re.compile(r"^[A-Za-z0-9]{1,16}$")


class PacketError(ValueError):
    """Why a packet is refused, said in one line."""


def crc16(data: bytes) -> int:
    """HJ 212-2017's CRC16 of ``data``."""
    register = 0xFFFF
    for byte in data:
        register = (register >> 8) ^ byte
        for _ in range(8):
            carry = register & 1
            register >>= 1
            if carry:
                register ^= 0xA001
    return register


def frame(segment: str) -> bytes:
    """The whole packet of a data segment: header, length, segment, CRC, CR LF."""
    data = segment.encode("ascii")
    if len(data) > MAX_SEGMENT:
        raise PacketError(f"data segment of {len(data)} bytes is longer than {MAX_SEGMENT}")
    return b"##%04d%s%04X\r\n" % (len(data), data, crc16(data))


@dataclass(frozen=True)
class Factor:
    """One pollutant (or parameter) of a data packet."""

    code: str
    values: dict[str, float] = field(default_factory=dict)  # Rtd, Avg, Min, Max, Cou
    flag: str | None = None


@dataclass(frozen=True)
class Packet:
    fields: dict[str, str]  # QN, ST, CN, PW, MN, Flag, PNUM, PNO
    cp: dict[str, str]  # the CP items that are not factors (DataTime, RtdInterval, QnRtn…)
    factors: dict[str, Factor]

    @property
    def cn(self) -> str:
        return self.fields.get("CN", "")

    @property
    def mn(self) -> str:
        return self.fields.get("MN", "")

    @property
    def flag(self) -> int:
        text = self.fields.get("Flag", "0")
        return int(text) if text.isdigit() else 0

    @property
    def wants_reply(self) -> bool:
        return bool(self.flag & 1)

    @property
    def data_time(self) -> datetime | None:
        """``DataTime`` (Beijing time) in UTC; None when the packet has none."""
        text = self.cp.get("DataTime")
        return None if text is None else beijing(text, "DataTime")


def beijing(text: str, name: str) -> datetime:
    """A ``YYYYMMDDhhmmss[zzz]`` Beijing-time stamp as UTC."""
    if not text.isdigit() or len(text) not in (14, 17):
        raise PacketError(f"{name} {text!r} is not YYYYMMDDhhmmss")
    try:
        local = datetime.strptime(text[:14], "%Y%m%d%H%M%S")
    except ValueError:
        raise PacketError(f"{name} {text!r} is not a time") from None
    millis = int(text[14:] or 0)
    return (local - BEIJING).replace(tzinfo=UTC) + timedelta(milliseconds=millis)


def unframe(line: bytes) -> str:
    """The data segment of one packet (``\\r\\n`` already stripped or not), its length and
    CRC checked."""
    line = line.rstrip(b"\r\n")
    if not line.startswith(b"##"):
        raise PacketError("packet does not start with ##")
    if len(line) < 10:
        raise PacketError(f"packet of {len(line)} bytes is shorter than a header and a CRC")
    length = line[2:6]
    if not length.isdigit():
        raise PacketError(f"length {length!r} is not 4 decimal digits")
    data, crc = line[6:-4], line[-4:]
    if int(length) != len(data):
        raise PacketError(f"length says {int(length)} bytes, the data segment has {len(data)}")
    try:
        sent = int(crc, 16)
    except ValueError:
        raise PacketError(f"CRC {crc!r} is not 4 hex digits") from None
    if sent != crc16(data):
        raise PacketError(f"CRC {crc.decode('ascii', 'replace')} does not match the data "
                          f"segment's {crc16(data):04X}")
    try:
        return data.decode("ascii")
    except UnicodeDecodeError:
        raise PacketError("data segment is not ASCII") from None


def parse_segment(segment: str) -> Packet:
    """The fields, CP items and factors of a data segment."""
    head, sep, rest = segment.partition("CP=&&")
    if not sep or not rest.endswith("&&"):
        raise PacketError("data segment has no CP=&&…&&")
    fields: dict[str, str] = {}
    for item in filter(None, head.split(";")):
        key, eq, value = item.partition("=")
        if not eq:
            raise PacketError(f"field {item!r} is not KEY=VALUE")
        fields[key] = value
    for key in ("ST", "CN", "PW", "MN"):
        if key not in fields:
            raise PacketError(f"data segment has no {key}")
    cp: dict[str, str] = {}
    factors: dict[str, dict[str, str]] = {}
    for group in filter(None, rest[:-2].split(";")):
        for item in filter(None, group.split(",")):
            key, eq, value = item.partition("=")
            if not eq:
                raise PacketError(f"CP item {item!r} is not KEY=VALUE")
            code, dash, part = key.rpartition("-")
            if dash and part in FIELDS:
                if not _CODE.match(code):
                    raise PacketError(f"factor code {code!r} is not a code")
                factors.setdefault(code, {})[part] = value
            else:
                cp[key] = value
    return Packet(fields, cp, {code: _factor(code, parts) for code, parts in factors.items()})


def _factor(code: str, parts: dict[str, str]) -> Factor:
    flag = parts.pop("Flag", None)
    if flag is not None and flag not in FLAGS:
        raise PacketError(f"{code}-Flag {flag!r} is not one of {', '.join(FLAGS)}")
    values = {}
    for name, text in parts.items():
        try:
            number = float(text)
        except ValueError:
            raise PacketError(f"{code}-{name} {text!r} is not a number") from None
        if not math.isfinite(number):
            raise PacketError(f"{code}-{name} {text!r} is not a finite number")
        values[name] = number
    return Factor(code, values, flag)


def parse(line: bytes) -> Packet:
    return parse_segment(unframe(line))


def reply(packet: Packet, qn_rtn: int = 1) -> bytes | None:
    """What the standard has the platform answer: a data reply (CN=9014) to data the sender
    asked a reply for; a request answer (CN=9011, QnRtn) to a command; else nothing."""
    qn = packet.fields.get("QN", "")
    if packet.cn in DATA_COMMANDS or packet.cn.startswith("20"):
        if not packet.wants_reply:
            return None
        return frame(f"QN={qn};ST=91;CN=9014;PW={packet.fields['PW']};MN={packet.mn};"
                     "Flag=4;CP=&&&&")
    if packet.wants_reply:
        return frame(f"QN={qn};ST=91;CN=9011;PW={packet.fields['PW']};MN={packet.mn};"
                     f"Flag=4;CP=&&QnRtn={qn_rtn}&&")
    return None
