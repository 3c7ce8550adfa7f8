"""The faust-streaming application: every processor of the platform, run by `fjsense worker`."""

from __future__ import annotations

import faust

from fjsense.catalog import load_catalog
from fjsense.settings import Settings
from streams.alerts import AlertProcessor, load_rules
from streams.durable import attach
from streams.pue_processor import PueProcessor


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
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # a restarted worker waits for its killed predecessor's session to expire
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    partitions = settings.kafka.partitions
    attach(app, PueProcessor(settings, load_catalog(settings.catalog_file)), partitions)
    attach(app, AlertProcessor(load_rules(settings)), partitions)
    return app


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Run the worker in the foreground until SIGTERM/SIGINT (as a container would)."""
    from faust.worker import Worker

    app = create_app(settings)
    Worker(app, loglevel=loglevel).execute_from_commandline()
