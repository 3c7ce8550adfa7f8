"""`fjsense replay FILE --as STATION`: a recorded file published over MQTT with the station's
device login, in time order, keeping the file's timestamps (historical files are accepted
like live data)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from fjsense.catalog import Catalog, Site
from fjsense.registry import registry
from fjsense.settings import Settings
from simulators.messages import SimMessage
from simulators.publisher import DevicePublisher, PublishStats
from simulators.recordings import Recording, read_recording, rows_of, summary


def station_for(catalog: Catalog, station: str, recording: Recording) -> Site:
    """The catalog station the file is replayed as; ValueError when it cannot take it."""
    try:
        site = catalog.site(station)
    except KeyError:
        raise ValueError(f"no station {station!r} in the catalog") from None
    if site.kind != recording.kind:
        raise ValueError(f"{recording.format} holds {recording.kind} data; {station} is a "
                         f"{site.kind} station")
    return site


def replay_messages(recording: Recording, site: Site, topic_of: str) -> Iterator[SimMessage]:
    """One message per row, as the station's first device, seq 1, 2, … in time order."""
    device = site.devices[0].id
    topic = topic_of.format(site=site.id, device=device)
    for seq, row in enumerate(rows_of(recording), start=1):
        body = {"device": device, "seq": seq, "ts": row.ts.isoformat().replace("+00:00", "Z"),
                **row.values}
        yield SimMessage(row.ts.timestamp(), topic, json.dumps(body).encode(), device, (seq,))


def replay(settings: Settings, catalog: Catalog, path: Path, station: str,
           speed: float, console: Console) -> PublishStats:
    """``fjsense replay``: a recorded file published as a catalog station, in time order, with
    the file's timestamps."""
    recording = read_recording(path, registry(settings.plugins))
    site = station_for(catalog, station, recording)
    if recording.problems:
        console.print(f"[yellow]{path}: {summary(recording.problems)} (skipped)")
    kind = registry(settings.plugins)[site.kind]
    messages = list(replay_messages(recording, site, kind.mqtt_topic("{site}", "{device}")))
    console.print(f"{path}: {recording.format}, {len(messages)} rows with values → {site.id}")
    publisher = DevicePublisher(settings, speed=speed)
    try:
        with Progress(console=console) as progress:
            task = progress.add_task(f"replaying as {site.id}", total=len(messages))

            def counted() -> Iterator[SimMessage]:
                for msg in messages:
                    yield msg
                    progress.advance(task)

            return publisher.run(counted())
    finally:
        publisher.close()
