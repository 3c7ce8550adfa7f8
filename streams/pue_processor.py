"""The PUE processor: batches of raw power readings (keyed by site) → PUE windows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.deadletter import DeadLetter
from fjsense.kinds.power import KIND, PUE, PowerDevice, PueSettings
from fjsense.settings import Settings
from streams.contract import Batch, Output
from streams.pue import Late, MeterSpec, PueConfig, SitePue, SiteState


class PueProcessor:
    name = "pue"
    source = KIND.raw_topic

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        pue: PueSettings = KIND.section(settings)
        config = PueConfig(
            window=pue.window_seconds,
            rolling=pue.rolling_windows,
            lateness=pue.allowed_lateness_seconds,
            max_gap=pue.max_gap_seconds,
            idle=pue.idle_seconds,
        )
        self.sites = {site.id: SitePue(site.id, meters(site.devices), config)
                      for site in catalog.sites_of(KIND.name)}

    def step(self, state: dict[str, Any], batch: Batch) -> list[Output]:
        site = self.sites[batch.key]
        site_state = SiteState.from_json(state)
        outputs: list[Output] = []
        for reading in batch.items:
            got = site.add(site_state, reading)
            if isinstance(got, Late):
                letter = DeadLetter.of(
                    "pue",
                    f"reading {got.lateness:.0f}s older than the site's watermark: later than "
                    "the allowed lateness, stored but not in PUE",
                    self.source, reading.model_dump_json().encode(),
                    datetime.fromtimestamp(batch.timestamp, UTC))
                outputs.append(Output(topics.DEADLETTER, self.source, letter))
            else:
                outputs += [Output(PUE.topic, site.site, window) for window in got]
        state.clear()
        state.update(site_state.to_json())
        return outputs


def meters(devices: Any) -> list[MeterSpec]:
    """The PUE view of a site's power meters."""
    return [MeterSpec(d.id, spec.circuit, spec.rated_kw) for d in devices
            if d.kind == KIND.name and isinstance(spec := d.spec, PowerDevice)]
