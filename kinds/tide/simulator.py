"""Simulated tide gauges of the Fujian stations: the mixed semidiurnal tide of the Taiwan
Strait built from its main constituents, gauge noise, and on demand typhoon surges.

The constituents are Xiamen's, roughly (M2 ≈ 1.95 m, S2 ≈ 0.55 m, K1 ≈ 0.32 m, O1 ≈ 0.26 m;
mean sea level ≈ 3.95 m above chart datum), scaled and shifted per station; only those a
month of record resolves (Rayleigh), so a month's fit predicts them to the gauge's noise. A
surge is a smooth bump of a chosen height and duration whose peak falls on a high water.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np

from fjsense.catalog import Catalog, Site
from fjsense.settings import Settings
from kinds.tide.kind import KIND, TideStation
from simulators.messages import SimMessage
from simulators.scenario import aligned_start

# speed (degrees per hour, Schureman), amplitude (m) and phase (degrees) at Xiamen
CONSTITUENTS: dict[str, tuple[float, float, float]] = {
    "M2": (28.9841042, 1.95, 300.0), "S2": (30.0, 0.55, 340.0), "N2": (28.4397295, 0.40, 285.0),
    "K1": (15.0410686, 0.32, 280.0), "O1": (13.9430356, 0.26, 235.0),
    "Q1": (13.3986609, 0.05, 215.0), "M4": (57.9682084, 0.07, 100.0),
    "MS4": (58.9841042, 0.05, 150.0),
}


@dataclass(frozen=True)
class Gauge:
    """A station's simulated tide: mean level above its datum, amplitude scale, phase lag
    behind Xiamen, and extra shallow-water tide (estuaries)."""

    msl: float = 3.95
    scale: float = 1.0
    lag_deg: float = 0.0
    shallow: float = 1.0


GAUGES = {
    "xiamen-tide": Gauge(),
    "pingtan-tide": Gauge(msl=3.80, scale=1.0, lag_deg=25.0),
    "minjiang-tide": Gauge(msl=0.25, scale=0.95, lag_deg=35.0, shallow=2.5),
    "luoyuan-tide": Gauge(msl=3.90, scale=1.1, lag_deg=40.0),
    "sansha-tide": Gauge(msl=4.40, scale=1.25, lag_deg=45.0),
}


def astronomical(gauge: Gauge, at: float) -> float:
    """The simulated station's astronomical tide (m above datum) at epoch seconds ``at``."""
    hours = at / 3600
    level = gauge.msl
    for name, (speed, amp, phase) in CONSTITUENTS.items():
        a = amp * gauge.scale * (gauge.shallow if name in ("M4", "MS4") else 1.0)
        lag = gauge.lag_deg * (speed / CONSTITUENTS["M2"][0])
        level += a * math.cos(math.radians(speed * hours - phase - lag))
    return level


def high_water_near(gauge: Gauge, at: float, within: float = 12.5 * 3600,
                    step: float = 60.0) -> float:
    """The time of the highest astronomical high water within ``within`` of ``at``."""
    times = [at - within + k * step for k in range(int(2 * within / step) + 1)]
    return max(times, key=lambda t: astronomical(gauge, t))


@dataclass(frozen=True)
class Surge:
    """A typhoon surge at one station: ``height`` m at ``peak`` (epoch seconds), rising and
    falling over ``hours``."""

    station: str
    height: float
    peak: float
    hours: float = 12.0

    def at(self, t: float) -> float:
        half = self.hours * 1800
        if abs(t - self.peak) >= half:
            return 0.0
        return self.height * math.cos(math.pi / 2 * (t - self.peak) / half) ** 2


@dataclass(frozen=True)
class TideScenario:
    sites: list[Site]
    start: datetime
    duration: timedelta
    interval: timedelta = timedelta(minutes=10)
    seed: int = 0
    noise_m: float = 0.01
    surges: list[Surge] = field(default_factory=list)
    shift: float = 0.0  # seconds the tide runs ahead (the demo puts a high water in its span)

    def level(self, site: Site, t: float) -> float:
        """The true level (tide and surge, without noise)."""
        gauge = GAUGES.get(site.id, Gauge())
        return astronomical(gauge, t + self.shift) + sum(
            s.at(t) for s in self.surges if s.station == site.id)


def generate(scenario: TideScenario) -> Iterator[SimMessage]:
    """Every gauge's readings in time order; seq counts intervals since the epoch, so runs
    that follow one another continue it."""
    rnd = random.Random(scenario.seed)
    step = scenario.interval.total_seconds()
    first = math.ceil(scenario.start.timestamp() / step)
    last = math.floor((scenario.start + scenario.duration).timestamp() / step)
    for k in range(first, last + 1):
        at = k * step
        stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
        for site in scenario.sites:
            level = scenario.level(site, at) + rnd.gauss(0, scenario.noise_m)
            for device in site.devices:
                body = {"device": device.id, "seq": k, "ts": stamp, "level_m": round(level, 3)}
                yield SimMessage(at, KIND.mqtt_topic(site.id, device.id),
                                 json.dumps(body).encode(), device.id, (k,))


def surge_option(text: str) -> tuple[str, float, float, float]:
    """``STATION:HEIGHT_M[:HOURS[:SHARE]]``: a surge of HEIGHT_M over HOURS (default 12) whose
    peak falls on the highest high water near SHARE of the run (default 0.5)."""
    parts = text.split(":")
    try:
        station, height = parts[0], float(parts[1])
        hours = float(parts[2]) if len(parts) > 2 else 12.0
        share = float(parts[3]) if len(parts) > 3 else 0.5
    except (IndexError, ValueError):
        raise argparse.ArgumentTypeError(
            f"not STATION:HEIGHT_M[:HOURS[:SHARE]]: {text!r}") from None
    if len(parts) > 4 or height <= 0 or hours <= 0 or not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need HEIGHT_M > 0, HOURS > 0, 0 ≤ SHARE ≤ 1")
    return station, height, hours, share


class TideSimulator:
    """``fjsense simulate tide``."""

    interval = timedelta(minutes=10)
    history = timedelta(days=30)  # what the demo fits before it goes live

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--surge", type=surge_option, action="append", default=[],
                            metavar="STATION:HEIGHT_M[:HOURS[:SHARE]]",
                            help="a typhoon surge peaking on a high water")
        parser.add_argument("--noise", type=float, default=0.01, help="gauge noise (m, σ)")

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        interval = args.interval or self.interval
        sites = catalog.sites_of(KIND.name)
        known = {s.id for s in sites}
        start = aligned_start(now, span, interval)
        surges = []
        for station, height, hours, share in args.surge:
            if station not in known:
                raise ValueError(f"no tide station {station!r} in the catalog")
            near = start.timestamp() + share * span.total_seconds()
            surges.append(Surge(station, height,
                                high_water_near(GAUGES.get(station, Gauge()), near), hours))
        return generate(TideScenario(sites, start, span, interval, args.seed, args.noise,
                                     surges))

    def demo_scenario(self, catalog: Catalog, now: datetime, span: timedelta) -> TideScenario:
        """A month of tide ending in a typhoon surge at Xiamen, peaking on a high water 40%
        into the demo's span, high enough to reach the yellow warning level."""
        sites = catalog.sites_of(KIND.name)
        start = aligned_start(now, span, self.interval)
        target = start.timestamp() + 0.4 * span.total_seconds()
        scenario = TideScenario(sites, start - self.history, span + self.history,
                                self.interval, seed=int(now.timestamp()))
        xiamen = next((s for s in sites if s.id == "xiamen-tide"), None)
        if xiamen is None or not isinstance(xiamen.spec, TideStation):
            return scenario
        gauge = GAUGES["xiamen-tide"]
        shift = high_water_near(gauge, target) - target
        peak = astronomical(gauge, target + shift)
        height = min(max(1.2, xiamen.spec.warning_levels.yellow + 0.15 - peak), 2.5)
        hours = min(12.0, 0.8 * span.total_seconds() / 3600)  # all of it inside the span
        return replace(scenario, shift=shift,
                       surges=[Surge("xiamen-tide", height, target, hours)])

    def demo_history(self, catalog: Catalog, now: datetime, span: timedelta
                     ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(times, levels) per station of the month before the demo's span (what its
        constituents are fitted on)."""
        scenario = self.demo_scenario(catalog, now, span)
        step = self.interval.total_seconds()
        live = aligned_start(now, span, self.interval).timestamp()
        times = np.arange(math.ceil(scenario.start.timestamp() / step) * step, live, step)
        noise = np.random.default_rng(scenario.seed)
        return {site.id: (times, np.array([scenario.level(site, t) for t in times])
                          + noise.normal(0, scenario.noise_m, len(times)))
                for site in scenario.sites}

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        scenario = self.demo_scenario(catalog, now, span)
        live = aligned_start(now, span, self.interval).timestamp()
        return (m for m in generate(scenario) if m.at >= live)
