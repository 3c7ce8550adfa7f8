"""Simulated datacenter power meters of Fujian sites: facility, IT and cooling circuits.

IT load follows a daily cycle with noise; cooling follows the outdoor temperature (Fuzhou's
monthly climate normals with a daily swing), so PUE drifts between about 1.2 in winter nights
and 1.6 on summer afternoons. Counters integrate the power exactly, so PUE computed from them
is known. A cooling fault (chiller degradation) multiplies a site's cooling load for a while.
"""

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
from kinds.power.kind import KIND
from simulators.messages import SimMessage
from simulators.scenario import aligned_start

# Fuzhou monthly mean air temperature, °C (China Meteorological Administration 1991–2020 normals)
FUZHOU_MONTHLY_C = (11.6, 12.0, 14.3, 18.5, 22.7, 26.3, 29.2, 28.8, 26.8, 22.9, 18.8, 13.9)
SITE_OFFSET_C = {"xiamen-dc1": 1.2, "anxi-dc1": -1.0}  # coast warmer in winter, inland hills cooler
DAILY_SWING_C = 4.0
LOCAL = timedelta(hours=8)  # China Standard Time


def outdoor_c(site: str, at: datetime) -> float:
    local = at + LOCAL
    hour = local.hour + local.minute / 60
    daily = DAILY_SWING_C * math.cos(2 * math.pi * (hour - 14) / 24)  # warmest at 14:00
    return FUZHOU_MONTHLY_C[local.month - 1] + SITE_OFFSET_C.get(site, 0.0) + daily


@dataclass(frozen=True)
class CoolingFault:
    site: str
    start: datetime
    end: datetime
    factor: float


@dataclass(frozen=True)
class CounterReset:
    device: str
    at: datetime


@dataclass
class PowerScenario:
    sites: list[Site]
    start: datetime
    duration: timedelta
    interval: timedelta = timedelta(seconds=10)
    seed: int = 0
    cooling_faults: list[CoolingFault] = field(default_factory=list)
    counter_resets: list[CounterReset] = field(default_factory=list)


def site_power_kw(site: Site, at: datetime, rnd: random.Random, faults: list[CoolingFault]) -> dict[str, float]:
    """kW per circuit at ``at``: IT, cooling (weather-driven), facility (= their sum + losses)."""
    design = site.spec.it_design_kw
    hour = (at + LOCAL).hour + (at + LOCAL).minute / 60
    it = design * (0.70 + 0.06 * math.sin(2 * math.pi * (hour - 9) / 24)) * rnd.gauss(1, 0.01)
    cooling = it * (0.10 + 0.018 * max(outdoor_c(site.id, at) - 10.0, 0.0))
    for fault in faults:
        if fault.site == site.id and fault.start <= at < fault.end:
            cooling *= fault.factor
    losses = it * 0.06 + 20.0  # UPS, transformers, lighting
    return {"it": it, "cooling": cooling, "facility": it + cooling + losses}


def generate(scenario: PowerScenario) -> Iterator[SimMessage]:
    """Every reading of every power meter of the scenario's sites, in event-time order."""
    rnd = random.Random(scenario.seed)
    meters = [(s, d) for s in scenario.sites for d in s.devices if d.kind == KIND.name]
    kwh = {d.id: rnd.uniform(1e5, 5e6) for _, d in meters}
    steps = int(scenario.duration / scenario.interval)
    dt_h = scenario.interval.total_seconds() / 3600
    resets = {(r.device, r.at) for r in scenario.counter_resets}
    for k in range(steps + 1):
        at = scenario.start + k * scenario.interval
        kw = {s.id: site_power_kw(s, at, rnd, scenario.cooling_faults) for s in scenario.sites}
        for site, device in meters:
            circuit = device.spec.circuit
            p = kw[site.id].get(circuit, 0.0)
            if k:
                kwh[device.id] += p * dt_h
            if any(dev == device.id and at - scenario.interval < t <= at for dev, t in resets):
                kwh[device.id] = p * dt_h * rnd.random()  # meter swapped: new counter from ~0
            body = {"device": device.id, "seq": k, "ts": at.isoformat().replace("+00:00", "Z"),
                    "circuit": circuit, "kw": round(p, 3), "kwh": round(kwh[device.id], 4)}
            yield SimMessage(at.timestamp(), KIND.mqtt_topic(site.id, device.id),
                             json.dumps(body).encode(), device.id, (k,))


def scenario_sites(catalog: Catalog, count: int) -> list[Site]:
    sites = catalog.sites_of(KIND.name)
    if not 1 <= count <= len(sites):
        raise ValueError(f"--sites must be between 1 and {len(sites)} (sites in the catalog)")
    return sites[:count]


def cooling_fault(text: str) -> tuple[str, float, float, float]:
    """``SITE:START_MIN:DURATION_MIN:FACTOR``, e.g. ``changle-dc1:30:40:3``."""
    try:
        site, start, length, factor = text.split(":")
        return site, float(start), float(length), float(factor)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not SITE:START_MIN:DURATION_MIN:FACTOR: {text!r}") from None


def counter_reset(text: str) -> tuple[str, float]:
    """``DEVICE@MINUTE``, e.g. ``anxi-dc1-m02@50``."""
    try:
        device, minute = text.split("@")
        return device, float(minute)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not DEVICE@MINUTE: {text!r}") from None


class PowerSimulator:
    """``fjsense simulate power``: the catalog's datacenters, with chiller faults and meter
    swaps on request (``simulators.contract.Simulator``)."""

    interval = timedelta(seconds=10)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--sites", type=int, default=3)
        parser.add_argument("--counter-reset", action="append", default=[], type=counter_reset,
                            metavar="DEVICE@MINUTE")
        parser.add_argument("--cooling-fault", action="append", default=[], type=cooling_fault,
                            metavar="SITE:START_MIN:DURATION_MIN:FACTOR")

    def scenario(self, catalog: Catalog, args: argparse.Namespace, now: datetime,
                 span: timedelta) -> PowerScenario:
        sites = scenario_sites(catalog, args.sites)
        interval = args.interval or self.interval
        start = aligned_start(now, span, interval)
        known = {s.id for s in sites}
        faults = []
        for site, begin, length, factor in args.cooling_fault:
            if site not in known:
                raise ValueError(f"--cooling-fault: site {site!r} is not among {sorted(known)}")
            t = start + timedelta(minutes=begin)
            faults.append(CoolingFault(site, t, t + timedelta(minutes=length), factor))
        resets = []
        for device, minute in args.counter_reset:
            if not any(d.id == device for s in sites for d in s.devices):
                raise ValueError(f"--counter-reset: no device {device!r} at the simulated sites")
            resets.append(CounterReset(device, start + timedelta(minutes=minute)))
        return PowerScenario(sites, start, span, interval, args.seed, faults, resets)

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        return generate(self.scenario(catalog, args, now, span))

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        """Every datacenter; a chiller at the first one degrades for 30% of the run."""
        sites = catalog.sites_of(KIND.name)
        start = aligned_start(now, span, self.interval)
        fault = CoolingFault(sites[0].id, start + span * 0.25, start + span * 0.55, 2.5)
        return generate(PowerScenario(sites, start, span, self.interval, seed=int(now.timestamp()),
                                      cooling_faults=[fault]))
