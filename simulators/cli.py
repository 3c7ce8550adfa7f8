"""`fjsense simulate power`: parse the options into a scenario, publish it with progress."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from simulators.faults import Faults
from simulators.messages import SimMessage
from simulators.power import (
    CoolingFault,
    CounterReset,
    PowerScenario,
    aligned_start,
    generate,
    scenario_sites,
)
from simulators.publisher import DevicePublisher, PublishStats

FOREVER = timedelta(days=365)


def scenario_from_args(settings: Settings, args: argparse.Namespace, now: datetime) -> PowerScenario:
    sites = scenario_sites(load_catalog(settings.catalog_file), args.sites)
    if args.duration is not None:
        span = args.duration
    elif args.minutes is not None:
        span = timedelta(minutes=args.minutes * max(args.speed, 1))
    else:
        span = FOREVER
    # a bounded run replays the recent past and ends now; an endless one starts an hour back
    start = aligned_start(now, span if span is not FOREVER else timedelta(hours=1), args.interval)
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
    return PowerScenario(sites, start, span, args.interval, args.seed, faults, resets)


def span_is_forever(scenario: PowerScenario) -> bool:
    return scenario.duration >= FOREVER


def simulate_power(settings: Settings, args: argparse.Namespace) -> PublishStats:
    scenario = scenario_from_args(settings, args, datetime.now(UTC))
    faults = Faults(args.dropout, args.duplicate, args.reorder, malformed=args.malformed,
                    seed=args.seed)
    publisher = DevicePublisher(settings, speed=args.speed)
    total = None if span_is_forever(scenario) else int(scenario.duration / scenario.interval)
    with Progress(TextColumn("simulating power"), BarColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn()) as progress:
        task = progress.add_task("", total=total)

        def tick(messages: Iterator[SimMessage]) -> Iterator[SimMessage]:
            for msg in messages:
                progress.update(task, completed=int((msg.at - scenario.start.timestamp())
                                                    / scenario.interval.total_seconds()),
                                description=datetime.fromtimestamp(msg.at, UTC).isoformat())
                yield msg

        try:
            return publisher.run(tick(faults.apply(generate(scenario))))
        finally:
            publisher.close()
