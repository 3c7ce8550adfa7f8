"""Cell KPIs (keyed by site) → each period with its district and availability."""

from __future__ import annotations

from fjsense.catalog import Catalog
from fjsense.settings import Settings
from kinds.cells.cell import KIND, KPIS, CellKpi, CellReading, CellSettings
from streams.contract import Batch, Output
from streams.state import ModelState, Stateless


def district_of(catalog: Catalog, kind: str) -> dict[str, str]:
    """Site → district (its region where the catalog names none) of a kind's sites."""
    return {s.id: s.district or s.region for s in catalog.sites_of(kind)}


class CellKpiProcessor(ModelState[Stateless]):
    """Per 5G site (the Kafka key): each KPI period with its district and availability."""

    name = "cell-kpi"
    source = KIND.raw_topic
    state_model = Stateless

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.config: CellSettings = KIND.section(settings)
        self.districts = district_of(catalog, KIND.name)

    def step(self, state: Stateless, batch: Batch) -> list[Output]:
        district = self.districts[batch.key]
        return [Output(KPIS.topic, batch.key, self.kpi(batch.key, district, r))
                for r in batch.items]

    def kpi(self, site: str, district: str, r: CellReading) -> CellKpi:
        availability = None if r.available_s is None else r.available_s / r.period_s
        return CellKpi(site=site, district=district, device=r.device, seq=r.seq, ts=r.ts,
                       period_s=r.period_s, available_s=r.available_s,
                       availability=availability,
                       outage=availability is not None and availability < self.config.outage_below,
                       prb_util=r.prb_util,
                       rrc_users=r.rrc_users, dl_mbps=r.dl_mbps, ul_mbps=r.ul_mbps)
