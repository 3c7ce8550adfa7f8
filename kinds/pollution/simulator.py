"""Simulated pollution-source monitors of Fuzhou's key discharge units, speaking HJ 212-2017
over TCP to the gateway (the publisher sends their packets there, not to MQTT): a real-time
packet (CN=2011) every interval and an hourly one (CN=2061) at each hour's end, asking for
the data reply; with exceedance episodes, a stuck analyzer, calibration periods and a dropped
connection on demand.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fjsense.catalog import Catalog, Site
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.pollution.hj212 import BEIJING, frame
from kinds.pollution.kind import GATEWAY, KIND, PollutionPoint
from simulators.messages import SimMessage
from simulators.scenario import Episode, aligned_start, episode

# typical values: (mean, relative spread) per factor of each point type
TYPICAL = {
    "wastewater": {"w01018": (22.0, 0.2), "w21003": (1.6, 0.3), "w21011": (0.22, 0.25),
                   "w01001": (7.2, 0.02), "w00000": (320.0, 0.15)},
    "flue_gas": {"a21026": (16.0, 0.25), "a21002": (31.0, 0.2), "a34013": (3.2, 0.3),
                 "a19001": (6.2, 0.05), "a01012": (48.0, 0.05), "a00000": (410.0, 0.1)},
}
MAIN = {"wastewater": "w01018", "flue_gas": "a21026"}  # what an episode acts on
CALIBRATION_SHARE = 0.8  # a span check reads this share of the analyzer's range


@dataclass
class PollutionScenario:
    sites: list[Site]
    start: datetime
    duration: timedelta
    passwords: dict[str, str]
    interval: timedelta = timedelta(minutes=1)
    seed: int = 0
    exceed: list[Episode] = field(default_factory=list)
    stuck: list[Episode] = field(default_factory=list)
    calibration: list[Episode] = field(default_factory=list)
    drops: list[Episode] = field(default_factory=list)  # the connection drops at ``start``


def _active(episodes: list[Episode], mn: str, share: float) -> bool:
    return any(e.station == mn and e.start <= share < e.end for e in episodes)


def _stamp(at: float) -> str:
    return (datetime.fromtimestamp(at, UTC) + BEIJING).strftime("%Y%m%d%H%M%S")


# HJ 212-2017 system codes: 31 air pollution source, 32 water pollution source
SYSTEM = {"flue_gas": "31", "wastewater": "32"}


def _packet(mn: str, spec: PollutionPoint, pw: str, cn: str, at: float, millis: int,
            cp: str) -> bytes:
    qn = _stamp(at) + f"{millis:03d}"
    return frame(f"QN={qn};ST={SYSTEM[spec.point]};CN={cn};PW={pw};MN={mn};Flag=5;"
                 f"CP=&&DataTime={_stamp(at)};{cp}&&")


def generate(scenario: PollutionScenario) -> Iterator[SimMessage]:
    rnd = random.Random(scenario.seed)
    step = scenario.interval.total_seconds()
    t0, span = scenario.start.timestamp(), scenario.duration.total_seconds()
    points = [(s, d.id, d.spec) for s in scenario.sites for d in s.devices
              if isinstance(d.spec, PollutionPoint)]
    held: dict[str, dict[str, float]] = {}  # a stuck analyzer's last value
    hour: dict[str, dict[str, list[float]]] = {}
    dropped: set[str] = set()
    first = math.ceil(t0 / step)
    for k in range(first, math.floor((t0 + span) / step) + 1):
        at = k * step
        share = (at - t0) / span
        for site, mn, spec in points:
            for e in scenario.drops:
                if e.station == mn and share >= e.start and mn not in dropped:
                    dropped.add(mn)
                    yield SimMessage(at, "", b"", mn, (), via=GATEWAY)  # the link drops here
            if at % 3600 == 0 and hour.get(mn):  # the hour just ended, before the new one's
                yield _hourly(mn, scenario.passwords[mn], at, hour.pop(mn), spec)
            main = MAIN[spec.point]
            values, parts = {}, []
            calibrating = _active(scenario.calibration, mn, share)
            for code, (mean, spread) in TYPICAL[spec.point].items():
                value = max(0.0, rnd.gauss(mean, mean * spread))
                if code == main and _active(scenario.exceed, mn, share):
                    value = (spec.limit(code) or mean) * rnd.uniform(1.3, 1.8)
                if code == main and _active(scenario.stuck, mn, share):
                    value = held.setdefault(mn, {}).setdefault(code, round(value, 2))
                flag = "N"
                if calibrating and code in spec.ranges:
                    value, flag = spec.ranges[code][1] * CALIBRATION_SHARE, "C"
                values[code] = round(value, 3)
                parts.append(f"{code}-Rtd={values[code]},{code}-Flag={flag}")
                if flag == "N":
                    hour.setdefault(mn, {}).setdefault(code, []).append(values[code])
            body = _packet(mn, spec, scenario.passwords[mn], "2011", at, 0,
                           ";".join(parts))
            yield SimMessage(at, "", body, mn, (k,), via=GATEWAY)


def _hourly(mn: str, pw: str, at: float, values: dict[str, list[float]],
            spec: PollutionPoint) -> SimMessage:
    """The hour just ended, as the monitor sends it (CN=2061; DataTime is the hour's start)."""
    flow_code = "w00000" if spec.point == "wastewater" else "a00000"
    flow = sum(values.get(flow_code, [0.0])) / max(1, len(values.get(flow_code, [])))
    parts = []
    for code, got in values.items():
        avg = sum(got) / len(got)
        cou = "" if code == flow_code else f",{code}-Cou={avg * flow * 3.6:.3f}"
        parts.append(f"{code}-Avg={avg:.3f},{code}-Min={min(got):.3f},{code}-Max={max(got):.3f}"
                     f"{cou},{code}-Flag=N")
    return SimMessage(at, "", _packet(mn, spec, pw, "2061", at - 3600, 1, ";".join(parts)), mn,
                      (int(at),), via=GATEWAY)


class PollutionSimulator:
    """``fjsense simulate pollution``: the catalog's monitoring points over HJ 212 TCP."""

    interval = timedelta(minutes=1)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        for name, what in (("exceed", "the main pollutant at 1.3-1.8 × its limit"),
                           ("stuck", "the analyzer freezes at its last value"),
                           ("calibration", "a span check: flag C, the range's 80%%"),
                           ("drop", "the TCP connection drops at START (then reconnects)")):
            parser.add_argument(f"--{name}", type=episode, action="append", default=[],
                                metavar="MN[:START-END]", help=what)

    @staticmethod
    def _scenario(settings: Settings, catalog: Catalog, start: datetime, span: timedelta,
                  interval: timedelta, seed: int, **episodes: list[Episode]
                  ) -> PollutionScenario:
        sites = catalog.sites_of(KIND.name)
        known = {d.id for s in sites for d in s.devices}
        for e in (e for group in episodes.values() for e in group):
            if e.station not in known:
                raise ValueError(f"no monitoring point {e.station!r} in the catalog")
        creds = Credentials(settings)
        return PollutionScenario(sites, start, span, {mn: creds.device(mn).password
                                                      for mn in known}, interval, seed,
                                 **episodes)

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        interval = args.interval or self.interval
        return generate(self._scenario(
            settings, catalog, aligned_start(now, span, interval), span, interval, args.seed,
            exceed=args.exceed, stuck=args.stuck, calibration=args.calibration,
            drops=args.drop))

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        """An exceedance at Lianban, a stuck COD analyzer at Jiangyin (over two hours), a
        calibration at the power plant's unit 1, Yangli's link dropping halfway."""
        known = {d.id for s in catalog.sites_of(KIND.name) for d in s.devices}

        def pick(mn: str, start: float, end: float) -> list[Episode]:
            return [Episode(mn, start, end)] if mn in known else []

        return generate(self._scenario(
            settings, catalog, aligned_start(now, span, self.interval), span, self.interval,
            int(now.timestamp()), exceed=pick("350104LBWS000000000001", 0.2, 0.5),
            stuck=pick("350181JYWS000000000001", 0.1, 0.95),
            calibration=pick("350182HNDC000000000001", 0.4, 0.6),
            drops=pick("350111YLWS000000000001", 0.5, 1.0)))
