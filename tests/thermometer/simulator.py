"""Rooms warming and cooling through the day; one reading a minute per thermometer."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta

from fjsense.catalog import Catalog
from fjsense.settings import Settings
from simulators.messages import SimMessage
from tests.thermometer.kind import KIND


class ThermometerSimulator:
    interval = timedelta(minutes=1)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--hot-at", type=int, default=None, metavar="MINUTE",
                            help="one reading at 55 °C (QC suspect) at this minute")

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        step = args.interval or self.interval
        start = datetime.fromtimestamp((now - span).timestamp() // 60 * 60, now.tzinfo)
        devices = [(s, d) for s in catalog.sites_of(KIND.name) for d in s.devices]
        for k in range(int(span / step) + 1):
            at = start + k * step
            for n, (site, device) in enumerate(devices):
                temp = 21.0 + 2.0 * math.sin(k / 30 + n)
                if k == args.hot_at:
                    temp = 55.0
                body = {"device": device.id, "seq": k, "ts": at.isoformat(), "temp_c": round(temp, 3)}
                yield SimMessage(at.timestamp(), KIND.mqtt_topic(site.id, device.id),
                                 json.dumps(body).encode(), device.id, (k,))

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        args = argparse.Namespace(interval=None, hot_at=5)
        return self.messages(settings, catalog, args, now, span)
