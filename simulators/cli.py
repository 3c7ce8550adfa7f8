"""`fjsense simulate KIND`: the options every simulator shares (pace, span, faults, arrays),
each kind's own options, and publishing with progress. It iterates the kind registry."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fjsense.catalog import catalog_of
from fjsense.registry import SensorKind, registry
from fjsense.settings import Settings
from simulators.contract import Simulator
from simulators.faults import Faults, probability
from simulators.messages import SimMessage, arrays
from simulators.publisher import DevicePublisher, PublishStats

FOREVER = timedelta(days=365)
ENDLESS_START = timedelta(hours=1)  # an endless run starts an hour back, then goes on live


def duration(text: str) -> timedelta:
    """``10s``, ``5m``, ``2h`` or plain seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 10s, 5m, 2h)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


def size_range(text: str) -> tuple[int, int]:
    """``N`` or ``MIN-MAX`` readings per message, e.g. ``1-50``."""
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text.strip())
    low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError(f"not N or MIN-MAX readings (1 ≤ MIN ≤ MAX): {text!r}")
    return low, high


def simulator_of(kind: SensorKind) -> Simulator:
    """The kind's simulator, imported now."""
    simulator: Simulator = kind.load("simulator")()
    return simulator


def add_parsers(sub: argparse._SubParsersAction, kinds: dict[str, SensorKind]) -> None:
    """One ``simulate KIND`` parser per kind that has a simulator."""
    for kind in kinds.values():
        if kind.simulator is None:
            continue
        p = sub.add_parser(kind.name, help=f"simulated {kind.name} devices",
                           aliases=list(kind.simulator_aliases))
        p.set_defaults(kind=kind.name)
        p.add_argument("--interval", type=duration, default=None,
                       help="time between a device's readings; default: the kind's own")
        p.add_argument("--speed", type=float, default=60.0,
                       help="simulated seconds per second; 0 = unpaced")
        p.add_argument("--minutes", type=float, default=None,
                       help="wall-clock minutes; default: forever")
        p.add_argument("--duration", type=duration, default=None,
                       help="simulated span (e.g. 2h); default: minutes × speed")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--batch", type=size_range, default=None, metavar="MIN-MAX",
                       help="publish JSON arrays of MIN–MAX readings per message")
        for fault in ("dropout", "duplicate", "reorder", "malformed"):
            p.add_argument(f"--{fault}", type=probability, default=0.0,
                           help=f"probability of {fault}, 0-1")
        simulator_of(kind).add_arguments(p)


def span_of(args: argparse.Namespace) -> timedelta:
    """The simulated span the options ask for (FOREVER when unbounded)."""
    if args.duration is not None:
        return args.duration
    if args.minutes is not None:
        return timedelta(minutes=args.minutes * max(args.speed, 1))
    return FOREVER


def messages_of(settings: Settings, args: argparse.Namespace, now: datetime
                ) -> Iterator[SimMessage]:
    """The scenario the options describe, with its faults, grouped into arrays if asked."""
    kind = registry(settings.plugins)[args.kind]
    span = span_of(args)
    # a bounded run replays the recent past and ends now; an endless one starts an hour back
    end = now if span is not FOREVER else now - ENDLESS_START + FOREVER
    messages = simulator_of(kind).messages(settings, catalog_of(settings), args, end, span)
    faults = Faults(args.dropout, args.duplicate, args.reorder, malformed=args.malformed,
                    seed=args.seed)
    out = faults.apply(messages)
    if args.batch is None:
        return out
    smallest, largest = args.batch
    return arrays(out, smallest, largest, seed=args.seed)


def simulate(settings: Settings, args: argparse.Namespace) -> PublishStats:
    """``fjsense simulate KIND``: publish the scenario with progress; returns what was
    published."""
    span = span_of(args)
    messages = messages_of(settings, args, datetime.now(UTC))
    publisher = DevicePublisher(settings, speed=args.speed)
    total = None if span >= FOREVER else span.total_seconds()
    with Progress(TextColumn(f"simulating {args.kind}"), BarColumn(),
                  TextColumn("{task.description}"), TimeElapsedColumn()) as progress:
        task = progress.add_task("", total=total)

        def tick(stream: Iterator[SimMessage]) -> Iterator[SimMessage]:
            first = None
            for msg in stream:
                first = msg.at if first is None else first
                progress.update(task, completed=msg.at - first,
                                description=datetime.fromtimestamp(msg.at, UTC).isoformat())
                yield msg

        try:
            return publisher.run(tick(messages))
        finally:
            publisher.close()
