"""5G measurement reports (MR): phones' SS-RSRP and SS-SINR as the serving cell collects them,
turned into the coverage rate per district and per H3 hexagon over event-time windows.

Indexes are those of 3GPP TS 38.133 (Tables 10.1.6.1-1 and 10.1.16.1-1): SS-RSRP_n for
n = 1…125 is the 1 dB bin [n − 157, n − 156) dBm, with open-ended bins at both ends (SS-RSRP_0:
below −156 dBm, SS-RSRP_126: −31 dBm and above); SS-SINR_n for n = 1…126 is the 0.5 dB bin
[n/2 − 23.5, n/2 − 23) dB, SS-SINR_0 below −23 dB and SS-SINR_127 40 dB and above. The
open-ended bins are measurements like any other (an RSRP of 0 is a coverage hole, the very
thing coverage counts); only indexes outside the tables are refused. A sample counts as good
when its whole bin is at or above the threshold: RSRP ≥ −105 dBm ⇔ n ≥ 52, so the bottom bins,
open below, never count as good.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fjsense.sensorkind import Migration, Reading, Record, SensorKind, Stream, Table, raw_table

RSRP_RANGE = (0, 126)  # TS 38.133 Table 10.1.6.1-1: SS-RSRP_0 … SS-RSRP_126
SINR_RANGE = (0, 127)  # TS 38.133 Table 10.1.16.1-1: SS-SINR_0 … SS-SINR_127
# RSRP bins (dBm) of the usual MR rating: ≥ −85, [−95, −85), [−105, −95), [−115, −105), < −115
RSRP_BIN_EDGES = (-85.0, -95.0, -105.0, -115.0)
BIN_COLUMNS = ("rsrp_ge_85", "rsrp_95_85", "rsrp_105_95", "rsrp_115_105", "rsrp_lt_115")


def rsrp_dbm(index: int) -> float:
    """The lower edge (dBm) of SS-RSRP index ``index``'s bin."""
    return index - 157.0


def sinr_db(index: int) -> float:
    """The lower edge (dB) of SS-SINR index ``index``'s bin."""
    return index / 2 - 23.5


def rsrp_index_at_least(dbm: float) -> int:
    """The smallest SS-RSRP index whose whole bin is at or above ``dbm``."""
    return math.ceil(dbm + 157)


def sinr_index_at_least(db: float) -> int:
    """The smallest SS-SINR index whose whole bin is at or above ``db``."""
    return math.ceil(2 * (db + 23.5))


class MrSample(BaseModel):
    """One phone's measurement of its serving cell."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    ts: AwareDatetime
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    rsrp_idx: int = Field(description="SS-RSRP report index, 0-126")
    sinr_idx: int = Field(description="SS-SINR report index, 0-127")

    def problem(self) -> str | None:
        for name, (low, high) in (("rsrp_idx", RSRP_RANGE), ("sinr_idx", SINR_RANGE)):
            value = getattr(self, name)
            if not low <= value <= high:
                return f"{name} {value} is outside the reported range {low}-{high}"
        return None


class MrReading(Reading):
    """A batch of measurement reports collected by one cell, on ``fj/mr/{site}/{cell}``."""

    samples: list[MrSample] = Field(min_length=1)

    def split(self) -> tuple[MrReading | None, list[tuple[str, bytes]]]:
        problems = [(n, p) for n, s in enumerate(self.samples) if (p := s.problem()) is not None]
        if not problems:
            return self, []
        refused = [(f"samples[{n}]: {p}", self.samples[n].model_dump_json().encode())
                   for n, p in problems]
        bad = {n for n, _ in problems}
        kept = [s for n, s in enumerate(self.samples) if n not in bad]
        return (self.model_copy(update={"samples": kept}) if kept else None), refused


class MrSettings(BaseModel):
    """Coverage from measurement reports; each default's source in its description."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rsrp_good_dbm: float = Field(
        -105.0, description="A sample covers when SS-RSRP ≥ this (the operators' MR coverage "
        "criterion: RSRP ≥ −105 dBm and SINR ≥ −3 dB)")
    sinr_good_db: float = Field(-3.0, description="… and SS-SINR ≥ this")
    window_seconds: int = Field(900, ge=60, description="Coverage window: 15 minutes")
    allowed_lateness_seconds: int = Field(
        900, ge=0, description="A batch this far behind its site's newest sample still "
        "corrects its window; later, it is late (dead-lettered)")
    h3_resolution: int = Field(8, ge=0, le=15, description="H3 hexagons (8: about 0.74 km²)")
    coverage_target: float = Field(0.95, gt=0, le=1, description="District coverage target")
    min_samples: int = Field(
        200, ge=1, description="A district window with fewer samples is not judged against the "
        "target (a thin window is not over-read)")
    alert_after_seconds: int = Field(
        1800, ge=0, description="Coverage must stay below target this long (two windows)")
    hold_windows_seconds: int = Field(
        6 * 3600, gt=0, description="How long an area's windows are held to add up late parts")


class CoverageCounts(Record):
    """Sample counts of one area over one window."""

    samples: int
    good_samples: int = Field(description="RSRP and SINR at or above the thresholds")
    rsrp_good_samples: int = Field(description="RSRP at or above its threshold")
    rsrp_ge_85: int
    rsrp_95_85: int
    rsrp_105_95: int
    rsrp_115_105: int
    rsrp_lt_115: int


class CoveragePart(CoverageCounts):
    """One site's share of an area's window (sent again, whole, as late samples arrive)."""

    window_start: AwareDatetime
    window_end: AwareDatetime
    area_type: str
    area: str
    site: str


class CoverageWindow(CoverageCounts):
    """An area's coverage over one window, all sites summed: ``coverage_windows``."""

    window_start: AwareDatetime
    window_end: AwareDatetime
    area_type: str = Field(description="district or h3")
    area: str = Field(description="the district's id, or the H3 cell index")
    coverage_rate: float = Field(description="good_samples / samples")
    rsrp_rate: float = Field(description="rsrp_good_samples / samples")
    sites: int = Field(description="sites whose cells reported samples in it")
    lat: float = Field(description="the area's centre: the hexagon's, or the mean of the "
                       "district's cell sites")
    lon: float


class DistrictCoverage(Record):
    """A district's window as the coverage rule judges it (``judged_rate`` is None while the
    window is thinner than ``mr.min_samples``)."""

    district: str
    window_start: AwareDatetime
    ts: AwareDatetime = Field(description="the window's end")
    samples: int
    coverage_rate: float
    judged_rate: float | None


READINGS = raw_table("mr_readings", MrReading)
PARTS = Stream("fj.derived.coverage_part", CoveragePart)
COVERAGE = Stream("fj.derived.coverage", CoverageWindow, Table(
    "coverage_windows", CoverageWindow, key=("window_start", "area_type", "area"),
    time_column="window_start", index=("area_type", "area", "window_start DESC"),
    upsert=True))
DISTRICTS = Stream("fj.derived.coverage_district", DistrictCoverage)


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def processors() -> tuple[Callable[..., Any], ...]:
    from kinds.cells.coverage import CoverageParts, CoverageSums

    return (CoverageParts, CoverageSums)


KIND = SensorKind(
    name="mr",
    reading=MrReading,
    table=READINGS,
    device_kind="cell",
    derived=(PARTS, COVERAGE, DISTRICTS),
    settings_section="mr",
    settings_model=MrSettings,
    migrations=(Migration("0001_tables", tables=(READINGS, COVERAGE.table)),),  # type: ignore[arg-type]
    processors=processors,
    # no 5G measurement report before 5G; a coverage window is final a window and its
    # lateness after it began
    earliest_ts=datetime(2019, 1, 1, tzinfo=UTC),
    close_after_silence_seconds=1800,
)
