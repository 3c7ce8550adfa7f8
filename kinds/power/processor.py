"""The PUE processor: batches of raw power readings (keyed by site) → PUE windows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.deadletter import DeadLetter
from fjsense.settings import Settings
from kinds.power.kind import KIND, PUE, PowerDevice, PueSettings
from kinds.power.pue import Late, MeterSpec, PueConfig, SitePue, SiteState
from streams.contract import Batch, Output
from streams.silence import Heard
from streams.state import ModelState


class PueState(SiteState, Heard):
    """A site's PUE state, with when its meters last spoke (to close its windows when silent)."""

    site: str = ""


class PueProcessor(ModelState[PueState]):
    """Per datacenter site (the Kafka key): its meters' counters → energy-based PUE windows."""

    name = "pue"
    source = KIND.raw_topic
    state_model = PueState

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        pue: PueSettings = KIND.section(settings)
        config = PueConfig(
            window=pue.window_seconds,
            rolling=pue.rolling_windows,
            lateness=pue.allowed_lateness_seconds,
            max_gap=pue.max_gap_seconds,
            idle=pue.idle_seconds,
            min_spacing=pue.min_spacing_seconds,
        )
        self.silence = KIND.common(settings).close_after_silence_seconds
        self.sites = {site.id: SitePue(site.id, meters(site.devices), config)
                      for site in catalog.sites_of(KIND.name)}

    def due(self, state: PueState, wall: float) -> bool:
        return state.silent(wall, self.silence) and self.sites[state.site].open_windows(state)

    def tick(self, state: PueState, wall: float) -> list[Output]:
        """A site fallen silent: its windows up to its newest reading are closed and judged."""
        if not self.due(state, wall):
            return []
        site = self.sites[state.site]
        return [Output(PUE.topic, site.site, window) for window in site.close(state)]

    def step(self, state: PueState, batch: Batch) -> list[Output]:
        site = self.sites[batch.key]
        outputs: list[Output] = []
        late: list[Late] = []
        for reading in batch.items:
            got = site.add(state, reading)
            if isinstance(got, Late):
                late.append(got)
            else:
                outputs += [Output(PUE.topic, site.site, window) for window in got]
        state.site = batch.key
        state.hear(batch.timestamp)
        if late:
            outputs.append(Output(topics.DEADLETTER, self.source, late_letter(
                batch.key, late, self.source, datetime.fromtimestamp(batch.timestamp, UTC))))
        return outputs


def late_letter(site: str, late: list[Late], source: str, received_at: datetime) -> DeadLetter:
    """One dead letter for a batch's late readings (a replay of old data may bring thousands):
    they are stored, but too late for PUE windows already final."""
    worst = max(x.lateness for x in late)
    listed = json.dumps([{"device": x.device, "seq": x.seq, "lateness_s": round(x.lateness, 1)}
                         for x in late]).encode()
    return DeadLetter.of(
        "pue", f"{len(late)} readings of {site} up to {worst:.0f}s older than the site's "
        "watermark: later than the allowed lateness, stored but not in PUE", source, listed,
        received_at)


def meters(devices: Any) -> list[MeterSpec]:
    """The PUE view of a site's power meters."""
    return [MeterSpec(d.id, spec.circuit, spec.rated_kw) for d in devices
            if d.kind == KIND.name and isinstance(spec := d.spec, PowerDevice)]
