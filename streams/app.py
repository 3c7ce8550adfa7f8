"""The faust-streaming application: every kind's processors and the alert engine, run by
`fjsense worker`. Built from the kind registry; it names no kind."""

from __future__ import annotations

import faust

from fjsense.catalog import catalog_of
from fjsense.kinds import registry
from fjsense.kinds.base import resolve
from fjsense.settings import Settings
from fjsense.topics import all_streams
from streams.alerts import alert_processors, load_rules
from streams.contract import Processor
from streams.durable import attach


def processors(settings: Settings) -> list[Processor]:
    """Every processor the kinds declare, then one alert processor per watched stream."""
    kinds = registry(settings.plugins)
    catalog = catalog_of(settings)
    found: list[Processor] = [resolve(ref)(settings, catalog)
                              for kind in kinds.values() for ref in kind.processors]
    return found + list(alert_processors(load_rules(settings)))


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        "fjsense-streams",
        broker=f"kafka://{settings.kafka.servers}",
        store="memory://",
        datadir=str(settings.home / "worker"),
        web_enabled=False,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication,
        producer_acks=-1,
        producer_compression_type="lz4",
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # a restarted worker waits for its killed predecessor's session to expire
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    streams = all_streams(registry(settings.plugins))
    for processor in processors(settings):
        attach(app, processor, streams[processor.source], settings.kafka.partitions)
    return app


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Run the worker in the foreground until SIGTERM/SIGINT (as a container would)."""
    from faust.worker import Worker

    app = create_app(settings)
    Worker(app, loglevel=loglevel).execute_from_commandline()
