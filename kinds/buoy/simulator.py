"""Simulated ocean buoys of the Fujian stations: daily and seasonal cycles, the tide's pull on
an estuary's salinity, and on demand a hypoxia episode, an algal bloom, a typhoon's waves, a
stuck DO sensor and spikes."""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fjsense.catalog import Catalog, Site
from fjsense.settings import Settings
from kinds.buoy.kind import KIND, BuoyStation
from simulators.faults import probability
from simulators.messages import SimMessage
from simulators.scenario import Episode, aligned_start, episode

M2_HOURS = 12.42  # principal lunar semidiurnal tide


@dataclass(frozen=True)
class BuoyScenario:
    sites: list[Site]
    start: datetime
    duration: timedelta
    interval: timedelta = timedelta(minutes=10)
    seed: int = 0
    hypoxia: list[Episode] = field(default_factory=list)
    bloom: list[Episode] = field(default_factory=list)
    typhoon: list[Episode] = field(default_factory=list)
    stuck_do: list[Episode] = field(default_factory=list)  # the DO sensor freezes low
    spikes: float = 0.0  # probability per value


def _share(episodes: list[Episode], station: str, share: float) -> float:
    return max((e.weight(share) * e.strength for e in episodes if e.station == station),
               default=0.0)


def water(site: Site, at: datetime, rnd: random.Random, estuary: bool) -> dict[str, float]:
    """A normal reading: seasonal and daily cycles, tide in the estuary, sensor noise."""
    day = at.timetuple().tm_yday
    hour = at.hour + at.minute / 60
    temp = 20 + 8 * math.sin(2 * math.pi * (day - 120) / 365) + 0.4 * math.sin(
        2 * math.pi * (hour - 9) / 24) + rnd.gauss(0, 0.05)
    tide = math.cos(2 * math.pi * at.timestamp() / 3600 / M2_HOURS)
    salinity = 15 + 12 * tide if estuary else 32 + 0.4 * tide
    salinity += rnd.gauss(0, 0.1)
    light = max(math.sin(2 * math.pi * (hour - 6) / 24), 0)  # photosynthesis by day
    do = 0.92 * 7.4 * (1 + 0.05 * light) * (1 + 0.01 * (20 - temp)) + rnd.gauss(0, 0.05)
    return {"water_temp_c": temp, "salinity_psu": salinity, "do_mg_l": do,
            "ph": (7.6 if estuary else 8.1) + 0.05 * light + rnd.gauss(0, 0.01),
            "chl_ug_l": 2.0 + 0.8 * light + abs(rnd.gauss(0, 0.1)),
            "turbidity_ntu": (25 if estuary else 4) + abs(rnd.gauss(0, 1)),
            "wave_height_m": 0.9 + 0.2 * math.sin(2 * math.pi * hour / 24) + rnd.gauss(0, 0.05),
            "wave_period_s": 6.0 + rnd.gauss(0, 0.3),
            "wind_speed_m_s": 6.0 + rnd.gauss(0, 0.3), "wind_dir_deg": rnd.uniform(20, 60),
            "air_temp_c": temp + 1 + rnd.gauss(0, 0.2),
            "pressure_hpa": 1013 + rnd.gauss(0, 0.1)}


def generate(scenario: BuoyScenario) -> Iterator[SimMessage]:
    """Every station's readings, one message per reading, in time order."""
    rnd = random.Random(scenario.seed)
    steps = int(scenario.duration / scenario.interval)
    stuck: dict[str, float] = {}
    for k in range(steps + 1):
        at = scenario.start + k * scenario.interval
        share = k / max(steps, 1)
        for site in scenario.sites:
            spec = site.spec if isinstance(site.spec, BuoyStation) else BuoyStation()
            # an estuary is a station whose usual salinity reaches fresh water
            v = water(site, at, rnd, estuary=spec.climatology.get("salinity_psu", (20,))[0] < 10)
            low = _share(scenario.hypoxia, site.id, share)
            v["do_mg_l"] -= low * (v["do_mg_l"] - 1.2)  # down to 1.2 mg/L at the episode's peak
            bloom = _share(scenario.bloom, site.id, share)
            v["chl_ug_l"] *= 1 + 7 * bloom
            v["do_mg_l"] *= 1 + 0.5 * bloom
            v["ph"] += 0.5 * bloom
            storm = _share(scenario.typhoon, site.id, share)
            v["wave_height_m"] += 6 * storm
            v["wave_period_s"] += 5 * storm
            v["wind_speed_m_s"] += 22 * storm
            v["pressure_hpa"] -= 12 * storm
            if any(e.station == site.id and e.start <= share <= e.end for e in scenario.stuck_do):
                v["do_mg_l"] = stuck.setdefault(site.id, 2.6)
            for name in v:
                if scenario.spikes and rnd.random() < scenario.spikes:
                    v[name] *= 1.8
            for device in site.devices:
                body = {"device": device.id, "seq": k,
                        "ts": at.isoformat().replace("+00:00", "Z"),
                        **{n: round(x, 2) for n, x in v.items()}}
                yield SimMessage(at.timestamp(), KIND.mqtt_topic(site.id, device.id),
                                 json.dumps(body).encode(), device.id, (k,))


class BuoySimulator:
    """``fjsense simulate buoy``."""

    interval = timedelta(minutes=10)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        for name, what in (("hypoxia", "dissolved oxygen falls to 1.2 mg/L"),
                           ("bloom", "chlorophyll-a ×8 with supersaturated oxygen, pH up"),
                           ("typhoon", "waves up to 7 m, wind, low pressure"),
                           ("stuck-do", "the DO sensor freezes at 2.6 mg/L")):
            parser.add_argument(f"--{name}", type=episode, action="append", default=[],
                                metavar="STATION[:START-END]", help=what)
        parser.add_argument("--spikes", type=probability, default=0.0,
                            help="probability that a value spikes")

    def _sites(self, catalog: Catalog) -> list[Site]:
        return catalog.sites_of(KIND.name)

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        interval = args.interval or self.interval
        sites = self._sites(catalog)
        known = {s.id for s in sites}
        for e in (*args.hypoxia, *args.bloom, *args.typhoon, *args.stuck_do):
            if e.station not in known:
                raise ValueError(f"no buoy station {e.station!r} in the catalog")
        return generate(BuoyScenario(sites, aligned_start(now, span, interval), span, interval,
                                     args.seed, args.hypoxia, args.bloom, args.typhoon,
                                     args.stuck_do, args.spikes))

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        """Hypoxia in the Minjiang estuary, a bloom in Luoyuan Bay, typhoon waves off
        Pingtan, and a stuck DO sensor in Fuqing Bay."""
        known = {s.id for s in self._sites(catalog)}
        # over the demo's few simulated hours: episodes as long as its span allows, so the
        # changes stay within what QC accepts of real water
        pick = [e for e in (Episode("minjiang-eco1", 0.05, 0.75), Episode("luoyuan-eco1", 0.2, 1.0))
                if e.station in known]
        return generate(BuoyScenario(
            self._sites(catalog), aligned_start(now, span, self.interval), span, self.interval,
            seed=int(now.timestamp()), hypoxia=pick[:1], bloom=pick[1:],
            typhoon=[Episode("pingtan-b1", 0.2, 1.0, 0.5)] if "pingtan-b1" in known else [],
            stuck_do=[Episode("fuzhou-nb2", 0.3, 0.9)] if "fuzhou-nb2" in known else []))
