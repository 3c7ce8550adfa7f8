"""The faust-streaming application: every kind's processors and the alert engine, run by
`fjsense worker`. Built from the kind registry; it names no kind."""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import faust

from fjsense.catalog import Catalog, catalog_of
from fjsense.health import Health, HealthServer, stall_reason
from fjsense.registry import registry
from fjsense.rules import load_rules
from fjsense.settings import Settings
from fjsense.topics import all_streams
from streams.alerts import RuleReloader, alert_processors
from streams.contiguous import ContiguousTransport
from streams.contract import Processor
from streams.durable import attach
from streams.embedded_broker import EmbeddedTransport

RELOAD_SECONDS = 5.0  # how often the rule file is looked at
# On the embedded broker every produce request costs the broker (and the worker) a round of
# work whatever it holds: 5 ms of linger let a step's changelog records and outputs share
# requests. Measured with the alert benchmark at 1,000 readings/s (README): p99 13.5 s at 0 ms,
# 8.0 s at 5 ms; the 5 ms are a small part of an alert's second.
EMBEDDED_LINGER_SECONDS = 0.005


def kind_processors(settings: Settings, catalog: Catalog) -> list[Processor]:
    """Every processor the kinds declare."""
    return [factory(settings, catalog) for kind in registry(settings.plugins).values()
            for factory in kind.load("processors")]


class HealthSensor(faust.Sensor):
    """Tells the worker's health: waiting while partitions are (re)assigned and their tables
    recovered, ready once it consumes; counts the events it took in."""

    def __init__(self, health: Health) -> None:
        super().__init__()
        self.health = health
        self.events = 0
        self.last_taken = time.monotonic()  # the last event, or the last assignment
        health.probe("events", lambda: self.events)

    def on_rebalance_start(self, app: Any) -> dict:
        """Partitions move: not ready until their tables are recovered."""
        self.health.waiting("partition assignment and table recovery")
        return {}

    def on_rebalance_end(self, app: Any, state: dict) -> None:
        """Partitions assigned and recovered: ready, and which ones."""
        self.health.update(partitions=sorted(
            f"{tp.topic}[{tp.partition}]" for tp in app.assignor.assigned_actives()))
        self.last_taken = time.monotonic()
        self.health.ready()

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        """Count an event (health shows the worker is moving)."""
        self.events += 1
        self.last_taken = time.monotonic()

    def idle_seconds(self) -> float:
        """How long since the worker last took an event in (or was assigned partitions)."""
        return time.monotonic() - self.last_taken


APP_ID = "fjsense-streams"  # also the worker's Kafka consumer group


def create_app(settings: Settings, health: Health | None = None) -> faust.App:
    """The faust app of every kind's processor and the alert engine, each under the durable
    runner."""
    datadir = settings.home / "worker" / str(os.getpid())
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        APP_ID,
        broker=f"kafka://{settings.kafka.servers}",
        store="memory://",
        # its own folder per process: workers of one home (tests, several on one host) must
        # not share faust's table files
        datadir=str(datadir),
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
        # the embedded broker: outputs and changelogs wait a moment for company (Apache Kafka:
        # the clients' default, 0)
        producer_linger=0.0 if settings.kafka.external else EMBEDDED_LINGER_SECONDS,
    )
    # faust hands on records fetched before its seek and commits past them (streams/contiguous);
    # on the embedded broker, table recovery reads the changelogs' real ends (embedded_broker)
    transport = ContiguousTransport if settings.kafka.external else EmbeddedTransport
    app.transport = transport(app.conf.broker_consumer, app)
    streams = all_streams(registry(settings.plugins))
    catalog = catalog_of(settings)
    engines = alert_processors(load_rules(settings, catalog), catalog, settings)
    runners = [attach(app, processor, streams[processor.source], settings.kafka.partitions,
                      settings.alerts.tick_seconds, health)
               for processor in [*kind_processors(settings, catalog), *engines]]
    if health is not None:
        sensor = HealthSensor(health)
        app.sensors.add(sensor)

        def stalled() -> str | None:
            """Records to take, per source topic (its processors read the same offsets),
            and nothing taken for ``health.stall_seconds``."""
            lag: dict[str, int] = {}
            for runner in runners:
                lag[runner.source.topic] = max(lag.get(runner.source.topic, 0), runner.lag())
            return stall_reason(sum(lag.values()), sensor.idle_seconds(),
                                settings.health.stall_seconds)
        health.watch(stalled)
    reloader = RuleReloader(settings, catalog, engines, health)

    @app.timer(RELOAD_SECONDS, name="reload-rules")
    async def reload_rules() -> None:
        """The rule file may have changed: a valid one replaces the rules, a bad one not."""
        reloader.check()
    return app


def run_worker(settings: Settings, loglevel: str = "warning", health_port: int | None = None
               ) -> None:
    """Run the worker in the foreground until SIGTERM/SIGINT (as a container would); its
    health endpoint on ``health_port`` (default: ``health.worker_port``)."""
    from faust.worker import Worker

    health = Health("worker")
    port = settings.health.worker_port if health_port is None else health_port
    server = HealthServer(health, settings.health.host, port)
    try:
        app = create_app(settings, health)
        # The catalog, rules and processors just built live as long as the worker: frozen
        # out of the collector's reach, so that a full collection walks only what came
        # since. Measured with the alert benchmark's 10,000 sites: each full collection
        # stopped the worker for 470-520 ms (every ~26 s at 1,000 readings/s), 230-300 ms
        # with them frozen.
        gc.freeze()
        worker = Worker(app, loglevel=loglevel)
        # faust's start-up spinner turns the root logger to DEBUG for good, to spin on every
        # record: every library then builds a log record per message sent (a tenth of the
        # worker's time at 1,000 readings/s, profiled). No spinner, and the level stays.
        worker.spinner = None
        worker.execute_from_commandline()
    finally:
        server.close()
