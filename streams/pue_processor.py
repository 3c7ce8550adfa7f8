"""The PUE processor: raw power readings (keyed by site) → PUE windows on ``fj.derived.pue``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.deadletter import DeadLetter
from fjsense.kinds import power
from fjsense.settings import Settings
from streams.contract import Output
from streams.pue import Late, MeterSpec, PueConfig, SitePue, SiteState


class PueProcessor:
    name = "pue"
    source = power.KIND.raw_topic

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        pue = settings.pue
        config = PueConfig(
            window=pue.window_seconds,
            rolling=pue.rolling_windows,
            lateness=pue.allowed_lateness_seconds,
            max_gap=pue.max_gap_seconds,
            idle=pue.idle_seconds,
        )
        self.sites = {
            site.id: SitePue(
                site.id,
                [MeterSpec(d.id, d.circuit or "other", d.rated_kw)
                 for d in site.devices if d.kind == power.KIND.name],
                config,
            )
            for site in catalog.sites
            if any(d.kind == power.KIND.name for d in site.devices)
        }

    def step(self, key: str, state: dict[str, Any], raw: bytes) -> list[Output]:
        reading = json.loads(raw)
        site = self.sites[reading["site"]]
        site_state = SiteState.from_json(state)
        got = site.add(site_state, reading)
        state.update(site_state.to_json())
        if isinstance(got, Late):
            letter = DeadLetter(
                "pue",
                f"reading {got.lateness:.0f}s older than the site's watermark: later than the "
                "allowed lateness, stored but not in PUE",
                self.source,
                raw,
                datetime.fromisoformat(reading["ingest_ts"]),
            )
            return [Output(topics.DEADLETTER, self.source, letter.to_dict())]
        return [Output(topics.PUE, site.site, window) for window in got]
