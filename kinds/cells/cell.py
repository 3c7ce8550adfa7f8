"""5G cells: each cell's KPIs every reporting period (availability, load, users, throughput),
per cell, district and day; an outage is a cell unavailable, or silent beyond its interval.

A site is a base station (gNB) with its cells (sectors) as devices; a cell's id is its device
id and MQTT login, for its KPIs here and its measurement reports (kind ``mr``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fjsense.sensorkind import (
    LiveView,
    Migration,
    Reading,
    Record,
    SensorKind,
    Stream,
    Table,
    Timescale,
    raw_table,
)

# NR bands in use in Fujian: n78 (3.5 GHz, China Telecom/Unicom), n41 (2.6 GHz, China Mobile),
# n28 (700 MHz, China Broadnet/Mobile: wide rural coverage)
Band = Literal["n78", "n41", "n28", "n1", "n79"]


class CellDevice(BaseModel):
    """Catalog fields of a cell (one sector of a site)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    azimuth_deg: float = Field(ge=0, lt=360, description="Antenna boresight, from true north")
    band: Band
    rs_eirp_dbm: float = Field(
        35.0, description="Radiated power per resource element of its SSB (dBm; 200 W over "
        "273 PRBs with a 17 dBi antenna): what the simulator's RSRP starts from")


class CellSite(BaseModel):
    """Catalog fields of a base station."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    height_m: float = Field(30.0, gt=0, description="Antenna height above ground")
    commissioned: date | None = Field(
        None, description="When the site went into service: the report counts a year's new "
        "sites against cell.new_sites_per_year")


Measured = Annotated[float, Field(allow_inf_nan=False)] | None


class CellReading(Reading):
    """One reporting period's KPIs of a cell, on ``fj/cell/{site}/{cell}``. Each KPI is judged
    on its own: one that cannot be (a PRB utilisation of 1.5, more seconds in service than the
    period has) is refused with its reason and sent on as null, the others go on."""

    available_s: Measured = Field(description="seconds of the period the cell was in service")
    period_s: float = Field(gt=0, le=86400, allow_inf_nan=False)
    prb_util: Measured = Field(description="downlink PRB utilisation, 0-1")
    rrc_users: int | None = Field(description="mean RRC-connected users")
    dl_mbps: Measured = Field(description="mean downlink cell throughput")
    ul_mbps: Measured = Field(description="mean uplink cell throughput")

    def split(self) -> tuple[CellReading | None, list[tuple[str, bytes]]]:
        refused: dict[str, str] = {}
        for name, low, high in (("available_s", 0.0, self.period_s), ("prb_util", 0.0, 1.0),
                                ("rrc_users", 0, None), ("dl_mbps", 0.0, None),
                                ("ul_mbps", 0.0, None)):
            value = getattr(self, name)
            if value is None:
                continue
            if value < low:
                refused[name] = f"impossible value: {name} {value:g} is below {low:g}"
            elif high is not None and value > high:
                refused[name] = (f"impossible value: {name} {value:g} exceeds period_s {high:g}"
                                 if name == "available_s" else
                                 f"impossible value: {name} {value:g} is above {high:g}")
        return self.without(refused)  # type: ignore[return-value]


class CellSettings(BaseModel):
    """Cell availability and throughput targets; each default's source in its description."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    report_interval_seconds: float = Field(
        900, gt=0, description="KPI reporting period: 15 min, the usual OMC granularity")
    silent_factor: float = Field(
        2, ge=1, description="A cell silent this many periods is out (cell-outage)")
    availability_target: float = Field(
        0.999, gt=0, le=1, description="Cell availability target (operators' 99.9% KPI)")
    outage_below: float = Field(
        0.5, ge=0, le=1, description="A period with less availability is an outage of the cell")
    throughput_good_mbps: float = Field(
        200.0, gt=0, description="Downlink cell throughput counted as good (daily share of cells "
        "above it; gigabit-city programmes count cells averaging 200 Mbps)")
    cluster_sites: int = Field(3, ge=2, description="Sites down at once in one district: a "
                               "cluster outage")
    new_sites_per_year: int = Field(
        10000, ge=0, description="5G base stations to commission a year (Fujian's plan for "
        "digital empowerment 2024-2026: at least 10,000 a year)")


class CellKpi(Record):
    """A cell's period, with its district and availability: what ``cell_kpis`` stores and the
    availability rules judge."""

    site: str
    district: str
    device: str
    seq: int
    ts: AwareDatetime
    period_s: float
    available_s: float | None = Field(description="null when the cell's report was refused")
    availability: float | None = Field(description="available_s / period_s")
    outage: bool = Field(description="availability below cell.outage_below")
    prb_util: float | None
    rrc_users: int | None
    dl_mbps: float | None
    ul_mbps: float | None


READINGS = raw_table("cell_readings", CellReading)
KPIS = Stream("fj.derived.cell", CellKpi, Table(
    "cell_kpis", CellKpi, key=("device", "ts"), time_column="ts", index=("district", "ts DESC"),
    timescale=Timescale(chunk="7 days", segment_by="site", compress_after="30 days")))

# The day is Beijing's (UTC+8): what the operators' daily reports count.
CELL_DAILY = """
CREATE VIEW cell_daily AS
SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date AS day,
       district, site, device,
       count(*)                              AS reports,
       sum(available_s)                      AS available_s,
       sum(period_s)                         AS period_s,
       sum(available_s) / sum(period_s)      AS availability,
       avg(dl_mbps)                          AS mean_dl_mbps,
       avg(ul_mbps)                          AS mean_ul_mbps,
       avg(prb_util)                         AS mean_prb_util,
       count(*) FILTER (WHERE outage)        AS outage_periods
FROM cell_kpis
GROUP BY 1, 2, 3, 4;
CREATE VIEW district_daily AS
SELECT day, district,
       count(*)                          AS cells,
       sum(available_s) / sum(period_s)  AS availability,
       avg(mean_dl_mbps)                 AS mean_dl_mbps,
       sum(outage_periods)               AS outage_periods
FROM cell_daily
GROUP BY 1, 2;
"""
# A KPI refused at ingest is null (0002): availability is then over the periods whose
# in-service seconds are known, never a refused period counted as down.
CELL_DAILY_KNOWN = """
ALTER TABLE cell_readings ALTER COLUMN available_s DROP NOT NULL,
    ALTER COLUMN prb_util DROP NOT NULL, ALTER COLUMN rrc_users DROP NOT NULL,
    ALTER COLUMN dl_mbps DROP NOT NULL, ALTER COLUMN ul_mbps DROP NOT NULL;
ALTER TABLE cell_kpis ALTER COLUMN available_s DROP NOT NULL,
    ALTER COLUMN availability DROP NOT NULL, ALTER COLUMN prb_util DROP NOT NULL,
    ALTER COLUMN rrc_users DROP NOT NULL, ALTER COLUMN dl_mbps DROP NOT NULL,
    ALTER COLUMN ul_mbps DROP NOT NULL;
CREATE OR REPLACE VIEW cell_daily AS
SELECT (ts AT TIME ZONE 'Asia/Shanghai')::date AS day,
       district, site, device,
       count(*)                              AS reports,
       sum(available_s)                      AS available_s,
       sum(period_s)                         AS period_s,
       sum(available_s) / sum(period_s) FILTER (WHERE available_s IS NOT NULL)
                                             AS availability,
       avg(dl_mbps)                          AS mean_dl_mbps,
       avg(ul_mbps)                          AS mean_ul_mbps,
       avg(prb_util)                         AS mean_prb_util,
       count(*) FILTER (WHERE outage)        AS outage_periods,
       sum(period_s) FILTER (WHERE available_s IS NOT NULL) AS known_period_s
FROM cell_kpis
GROUP BY 1, 2, 3, 4;
CREATE OR REPLACE VIEW district_daily AS
SELECT day, district,
       count(*)                                AS cells,
       sum(available_s) / sum(known_period_s)  AS availability,
       avg(mean_dl_mbps)                       AS mean_dl_mbps,
       sum(outage_periods)                     AS outage_periods
FROM cell_daily
GROUP BY 1, 2;
"""


# its stage code, imported only by the stage that runs it (see fjsense.sensorkind)
def processors() -> tuple[Callable[..., Any], ...]:
    from kinds.cells.processor import CellKpiProcessor

    return (CellKpiProcessor,)


def dashboards() -> tuple[Callable[..., Any], ...]:
    from kinds.cells.dashboard import cells_dashboard

    return (cells_dashboard,)


def simulator() -> type:
    from kinds.cells.simulator import CellsSimulator

    return CellsSimulator


def report() -> tuple[Callable[..., Any], ...]:
    from kinds.cells.report import cells_section

    return (cells_section,)


KIND = SensorKind(
    name="cell",
    reading=CellReading,
    table=READINGS,
    device_fields=CellDevice,
    site_fields=CellSite,
    derived=(KPIS,),
    settings_section="cell",
    settings_model=CellSettings,
    migrations=(Migration("0001_tables", tables=(READINGS, KPIS.table),  # type: ignore[arg-type]
                          sql=CELL_DAILY),
                Migration("0002_refused_kpis_null", sql=CELL_DAILY_KNOWN)),
    processors=processors,
    dashboards=dashboards,
    simulator=simulator,
    report=report,
    rules=Path(__file__).with_name("rules.yaml"),
    simulator_aliases=("cells",),
    live_view=LiveView(
        "availability and downlink per district (latest day), cells out now",
        "SELECT d.district, d.day, d.cells, d.availability, d.mean_dl_mbps,\n"
        "       (SELECT count(DISTINCT group_key) FROM (SELECT DISTINCT ON (rule, group_key)\n"
        "               * FROM alert_events WHERE rule = 'cell-outage' AND state <> 'pending'\n"
        "               ORDER BY rule, group_key, at DESC) a\n"
        "        WHERE a.state = 'firing' AND a.labels->>'district' = d.district) AS out_now,\n"
        "       c.coverage_rate, c.samples\n"
        "FROM (SELECT DISTINCT ON (district) * FROM district_daily\n"
        "      ORDER BY district, day DESC) d\n"
        "LEFT JOIN LATERAL (SELECT coverage_rate, samples FROM coverage_windows w\n"
        "                   WHERE w.area_type = 'district' AND w.area = d.district\n"
        "                   ORDER BY window_start DESC LIMIT 1) c ON true\n"
        "ORDER BY d.district",
        ("district", "day", "cells", "availability", "DL Mbps", "cells out",
         "coverage (latest 15 min)", "MR samples"),
    ),
    # no 5G cell reported before 5G (3GPP Release 15, 2018; China's commercial 5G, 2019)
    earliest_ts=datetime(2019, 1, 1, tzinfo=UTC),
    close_after_silence_seconds=1800,
)
