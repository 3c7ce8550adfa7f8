"""Simulated 5G cells of Fuzhou: each cell's KPIs every period, and the measurement reports of
phones moving along roads near its sites (``kinds.cells.radio``), with load following the
daily cycle (peak at 21:00 Beijing time), and outages on demand: a cell, a site, or a cluster
of adjacent sites falls silent, then reports its lost seconds when it is back.

Phones measure every ``measure_every``; each cell sends what its phones measured every
``report_every`` as one MR batch. ``seq`` counts a device's periods since the epoch, per kind.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from fjsense.catalog import Catalog, Site
from fjsense.settings import Settings
from kinds.cells.cell import KIND, CellDevice, CellSettings
from kinds.cells.mr import KIND as MR
from kinds.cells.radio import (
    BAND_GHZ,
    Cells,
    rsrp_dbm,
    rsrp_index,
    serve,
    sinr_index,
    to_degrees,
    to_metres,
)
from simulators.faults import probability
from simulators.messages import SimMessage
from simulators.scenario import aligned_start

CAPACITY_MBPS = {"n78": 1200.0, "n79": 1000.0, "n41": 900.0, "n1": 300.0, "n28": 150.0}
USERS_AT_FULL_LOAD = 400
LOCAL = timedelta(hours=8)  # Beijing time
# a phone's road passes near its home site and runs this far either way, in site spacings
ROAD_HALF_LENGTH = 0.8
ROAD_OFFSET = 0.25


@dataclass(frozen=True)
class Outage:
    """A cell or site (``target``), or a cluster of a district's adjacent sites
    (``district:NAME``), silent over shares ``start``-``end`` of the run."""

    target: str
    start: float = 0.3
    end: float = 0.7


def outage(text: str) -> Outage:
    """``TARGET[:START-END]`` (shares of the run, default 0.3-0.7)."""
    target, _, span = text.partition(":")
    if target == "district":  # district:NAME[:START-END]
        name, _, span = span.partition(":")
        target = f"district:{name}"
    start, _, end = (span or "0.3-0.7").partition("-")
    try:
        found = Outage(target, float(start), float(end))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not TARGET[:START-END]: {text!r}") from None
    if not 0 <= found.start < found.end <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 ≤ START < END ≤ 1")
    return found


def load_at(at: float, urban: bool) -> float:
    """Downlink PRB utilisation by the hour of Beijing time: lowest before dawn, peak at 21:00."""
    local = datetime.fromtimestamp(at, UTC) + LOCAL
    hour = local.hour + local.minute / 60
    peak = 0.5 + 0.5 * math.cos(2 * math.pi * (hour - 21) / 24)
    return (0.08 + 0.62 * peak) * (1.0 if urban else 0.6)


@dataclass
class CellScenario:
    sites: list[Site]
    start: datetime
    duration: timedelta
    kpi_every: timedelta = timedelta(minutes=15)
    report_every: timedelta = timedelta(seconds=60)
    measure_every: timedelta = timedelta(seconds=5)
    phones: int = 1000
    seed: int = 0
    outages: list[Outage] = field(default_factory=list)
    cluster_sites: int = 3
    bad_index: float = 0.0  # share of samples sent with an RSRP index outside 0-126

    def down(self) -> dict[str, list[tuple[float, float]]]:
        """Cell id → its silent spans (epoch seconds)."""
        t0, span = self.start.timestamp(), self.duration.total_seconds()
        by_id = {s.id: s for s in self.sites}
        spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for o in self.outages:
            window = (t0 + o.start * span, t0 + o.end * span)
            if o.target.startswith("district:"):
                targets = [d.id for s in cluster(self.sites, o.target[9:], self.cluster_sites)
                           for d in s.devices]
            elif o.target in by_id:
                targets = [d.id for d in by_id[o.target].devices]
            else:
                targets = [o.target]
            for cell in targets:
                spans[cell].append(window)
        return spans


def cluster(sites: list[Site], district: str, count: int) -> list[Site]:
    """``count`` adjacent sites of a district: its first site and those nearest it."""
    members = [s for s in sites if s.district == district]
    if not members:
        raise ValueError(f"no cell sites in district {district!r}")
    first = members[0]
    return sorted(members, key=lambda s: math.hypot(s.lat - first.lat, s.lon - first.lon))[:count]


def _up(spans: list[tuple[float, float]], at: float) -> bool:
    return not any(a <= at < b for a, b in spans)


def _lost(spans: list[tuple[float, float]], begin: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, begin)) for a, b in spans)


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def kpi_messages(scenario: CellScenario) -> Iterator[SimMessage]:
    """Every cell's KPIs per period; a cell silent at a period's end sends nothing for it."""
    rnd = np.random.default_rng(scenario.seed)
    down = scenario.down()
    step = scenario.kpi_every.total_seconds()
    first = math.ceil(scenario.start.timestamp() / step)
    last = math.floor((scenario.start + scenario.duration).timestamp() / step)
    for k in range(first, last + 1):
        at = k * step
        for site in scenario.sites:
            for device in site.devices:
                spans = down.get(device.id, [])
                if not _up(spans, at):
                    continue
                spec = device.spec
                assert isinstance(spec, CellDevice)
                util = min(1.0, load_at(at, spec.band != "n28") * rnd.uniform(0.8, 1.2))
                dl = CAPACITY_MBPS[spec.band] * (1 - 0.65 * util) * rnd.uniform(0.85, 1.15)
                body = {"device": device.id, "seq": k, "ts": _stamp(at),
                        "available_s": round(step - _lost(spans, at - step, at), 1),
                        "period_s": step, "prb_util": round(util, 3),
                        "rrc_users": int(util * USERS_AT_FULL_LOAD),
                        "dl_mbps": round(dl, 1), "ul_mbps": round(dl * 0.12, 1)}
                yield SimMessage(at, KIND.mqtt_topic(site.id, device.id),
                                 json.dumps(body).encode(), device.id, (k,))


@dataclass
class _District:
    """A district's cells and phones (each on its road: a point, a direction, a place on it)."""

    sites: list[Site]
    cells: Cells
    ref: tuple[float, float]
    road_east: np.ndarray
    road_north: np.ndarray
    road_angle: np.ndarray
    place: np.ndarray
    speed: np.ndarray
    half_length: float

    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.road_east + self.place * np.sin(self.road_angle),
                self.road_north + self.place * np.cos(self.road_angle))

    def move(self, seconds: float) -> None:
        self.place += self.speed * seconds
        beyond = np.abs(self.place) > self.half_length
        self.speed[beyond] *= -1  # turn at the road's end
        self.place = np.clip(self.place, -self.half_length, self.half_length)


def _districts(scenario: CellScenario, rnd: np.random.Generator) -> list[_District]:
    by_district: dict[str, list[Site]] = defaultdict(list)
    for site in scenario.sites:
        by_district[site.district or site.region].append(site)
    total = sum(len(s) for s in by_district.values())
    out = []
    for sites in by_district.values():
        ref = (sites[0].lat, sites[0].lon)
        devices = [(s, d) for s in sites for d in s.devices]
        east, north = to_metres(np.array([s.lat for s, _ in devices]),
                                np.array([s.lon for s, _ in devices]), ref)
        specs = [d.spec for _, d in devices]
        cells = Cells([d.id for _, d in devices], east, north,
                      np.array([s.spec.height_m for s, _ in devices]),
                      np.array([c.azimuth_deg for c in specs]),
                      np.array([BAND_GHZ[c.band] for c in specs]),
                      np.array([c.rs_eirp_dbm for c in specs]))
        phones = max(1, round(scenario.phones * len(sites) / total))
        home = rnd.integers(0, len(sites), phones)
        site_east, site_north = to_metres(np.array([s.lat for s in sites]),
                                          np.array([s.lon for s in sites]), ref)
        spacing = _spacing(site_east, site_north)
        half, offset = ROAD_HALF_LENGTH * spacing, ROAD_OFFSET * spacing
        out.append(_District(
            sites, cells, ref,
            site_east[home] + rnd.uniform(-offset, offset, phones),
            site_north[home] + rnd.uniform(-offset, offset, phones),
            rnd.uniform(0, math.pi, phones), rnd.uniform(-half, half, phones),
            rnd.uniform(8, 17, phones) * rnd.choice([-1, 1], phones), half))  # 30-60 km/h
    return out


def _spacing(east: np.ndarray, north: np.ndarray) -> float:
    """The median distance (m) from a site to its nearest neighbour; 1 km for a lone site."""
    if len(east) < 2:
        return 1000.0
    d = np.hypot(east[:, None] - east[None, :], north[:, None] - north[None, :])
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(axis=1)))


def mr_messages(scenario: CellScenario) -> Iterator[SimMessage]:
    """Each cell's batch of its phones' samples every ``report_every``."""
    rnd = np.random.default_rng(scenario.seed + 1)
    districts = _districts(scenario, rnd)
    down = scenario.down()
    site_of = {d.id: s.id for s in scenario.sites for d in s.devices}
    urban = {d.id: d.spec.band != "n28" for s in scenario.sites for d in s.devices}
    measure, report = (scenario.measure_every.total_seconds(),
                       scenario.report_every.total_seconds())
    first = math.ceil(scenario.start.timestamp() / report)
    last = math.floor((scenario.start + scenario.duration).timestamp() / report)
    for k in range(first, last + 1):
        at = k * report
        held: dict[str, list[dict]] = defaultdict(list)
        for t in np.arange(at - report + measure, at + measure / 2, measure):
            for district in districts:
                district.move(measure)
                ids = district.cells.ids
                on = np.array([_up(down.get(c, []), t) for c in ids])
                if not on.any():
                    continue
                east, north = district.positions()
                rsrp = rsrp_dbm(district.cells, east, north, rnd)
                rsrp[:, ~on] = -np.inf
                load = np.array([load_at(t, urban[c]) for c in ids])
                best, signal, sinr = serve(rsrp, load)
                lat, lon = to_degrees(east, north, district.ref)
                r_idx, s_idx = rsrp_index(signal), sinr_index(sinr)
                if scenario.bad_index:
                    bad = rnd.random(len(best)) < scenario.bad_index
                    r_idx[bad] = rnd.choice([-1, 127, 200], bad.sum())
                stamp = _stamp(float(t))
                for n, cell in enumerate(best):
                    held[ids[cell]].append({"ts": stamp, "lat": round(float(lat[n]), 6),
                                            "lon": round(float(lon[n]), 6),
                                            "rsrp_idx": int(r_idx[n]),
                                            "sinr_idx": int(s_idx[n])})
        for cell, samples in held.items():
            body = {"device": cell, "seq": k, "ts": _stamp(at), "samples": samples}
            yield SimMessage(at, MR.mqtt_topic(site_of[cell], cell),
                             json.dumps(body).encode(), cell, (k,))


def generate(scenario: CellScenario) -> Iterator[SimMessage]:
    return heapq.merge(kpi_messages(scenario), mr_messages(scenario), key=lambda m: m.at)


class CellsSimulator:
    """``fjsense simulate cells``: KPIs and measurement reports of the catalog's 5G cells."""

    interval = timedelta(minutes=15)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--phones", type=int, default=1000,
                            help="phones moving on roads (samples/s = phones / measure-every)")
        parser.add_argument("--measure-every", type=float, default=5.0, metavar="SECONDS")
        parser.add_argument("--report-every", type=float, default=60.0, metavar="SECONDS",
                            help="a cell sends its MR batch this often")
        parser.add_argument("--districts", nargs="*", default=None,
                            help="only these districts' sites (default: all)")
        parser.add_argument("--sites-per-district", type=int, default=None,
                            help="only the first N sites of each district")
        parser.add_argument("--outage", type=outage, action="append", default=[],
                            metavar="CELL|SITE|district:NAME[:START-END]",
                            help="a cell, a site, or a cluster of a district's adjacent sites "
                            "falls silent (shares of the run, default 0.3-0.7)")
        parser.add_argument("--bad-index", type=probability, default=0.0,
                            help="share of samples sent with an RSRP index outside 0-126")

    @staticmethod
    def sites(catalog: Catalog, districts: list[str] | None = None,
              per_district: int | None = None) -> list[Site]:
        chosen: list[Site] = []
        count: dict[str, int] = defaultdict(int)
        for site in catalog.sites_of(KIND.name):
            district = site.district or site.region
            if districts and district not in districts:
                continue
            if per_district is not None and count[district] >= per_district:
                continue
            count[district] += 1
            chosen.append(site)
        if not chosen:
            raise ValueError("no cell sites chosen (check --districts)")
        return chosen

    def messages(self, settings: Settings, catalog: Catalog, args: argparse.Namespace,
                 now: datetime, span: timedelta) -> Iterator[SimMessage]:
        config: CellSettings = KIND.section(settings)
        every = args.interval or timedelta(seconds=config.report_interval_seconds)
        sites = self.sites(catalog, args.districts, args.sites_per_district)
        return generate(CellScenario(
            sites, aligned_start(now, span, every), span, every,
            timedelta(seconds=args.report_every), timedelta(seconds=args.measure_every),
            args.phones, args.seed, args.outage, config.cluster_sites, args.bad_index))

    def demo(self, settings: Settings, catalog: Catalog, now: datetime,
             span: timedelta) -> Iterator[SimMessage]:
        """Three sites in each district, 300 phones; a cell down early on, a site later, and a
        cluster of Pingtan's sites towards the end."""
        config: CellSettings = KIND.section(settings)
        sites = self.sites(catalog, per_district=3)
        ids = {s.id for s in sites}
        outages = [o for o in (Outage("fz-gulou-002-c1", 0.15, 0.45),
                               Outage("fz-cangshan-001", 0.35, 0.65),
                               Outage("district:pingtan", 0.6, 0.9))
                   if o.target.startswith("district:") or o.target.rsplit("-c", 1)[0] in ids
                   or o.target in ids]
        return generate(CellScenario(
            sites, aligned_start(now, span, self.interval), span, phones=300,
            seed=int(now.timestamp()), outages=outages, cluster_sites=config.cluster_sites))
