"""The sink process: Kafka (aiokafka consumer group) → PostgreSQL, offsets after commit.

The database may go away (restart, failover, maintenance). The sink then waits with capped
backoff, reconnects and writes the same rows again; Kafka keeps the readings meanwhile and
offsets are committed only after the rows are in, so nothing is lost or doubled. Every
``sink.aggregate_refresh_seconds`` it refreshes the continuous aggregates' buckets it wrote
into (``sinks/refresh.py``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from fjsense.credentials import Credentials
from fjsense.health import Health
from fjsense.kafka_admin import consumer_fetch_wait_ms
from fjsense.sensorkind import Stream
from fjsense.settings import Settings
from sinks.postgres import PostgresSink
from sinks.refresh import refresh_noted
from sinks.tables import stored_streams

log = logging.getLogger(__name__)

GROUP_ID = "fjsense-sink"
MIN_RETRY_SECONDS, MAX_RETRY_SECONDS = 0.5, 30.0
T = TypeVar("T")


class Database:
    """The sink's connection, re-made after an outage; ``call`` retries until it succeeds."""

    def __init__(self, dsn: str, stop: asyncio.Event, health: Health) -> None:
        self.dsn = dsn
        self.stop = stop
        self.health = health
        self.conn: psycopg.AsyncConnection | None = None

    async def call(self, op: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """Run ``op`` with a connection, reconnecting after an outage instead of dying."""
        delay = MIN_RETRY_SECONDS
        while True:
            try:
                if self.conn is None or self.conn.closed:
                    # autocommit: every write is in an explicit transaction block, and a
                    # stray statement never leaves one open
                    self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
                result = await op(self.conn)
                self.health.ready()
                return result
            except psycopg.OperationalError as exc:
                log.warning("waiting for the database (%s); retrying in %.1fs",
                            str(exc).strip().splitlines()[0], delay)
                self.health.waiting("the database")
                if self.conn is not None:
                    await self.conn.close()
                    self.conn = None
                try:
                    await asyncio.wait_for(self.stop.wait(), delay)
                    raise
                except TimeoutError:
                    delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def close(self) -> None:
        """Close the connection."""
        if self.conn is not None:
            await self.conn.close()


async def run_sink(
    settings: Settings, stop: asyncio.Event, health: Health | None = None,
) -> None:
    """Consume every sink topic in batches until ``stop``; never commit before the database."""
    health = Health("sink") if health is None else health
    rows_stored: dict[str, int] = {}
    lag: dict[str, int] = {}
    health.update(rows_stored=rows_stored, lag=lag)
    streams = stored_streams(settings)
    consumer = AIOKafkaConsumer(
        *streams,
        bootstrap_servers=settings.kafka.servers,
        group_id=GROUP_ID,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=consumer_fetch_wait_ms(settings),  # a Tansu workaround
    )
    db = Database(Credentials(settings).dsn("writer"), stop, health)
    sink = PostgresSink(None)  # type: ignore[arg-type]  # bound to db's connection per call

    async def flush(conn: psycopg.AsyncConnection) -> dict[str, int]:
        sink.conn = conn
        return await sink.flush()

    await consumer.start()
    refresh_at = time.monotonic() + settings.sink.aggregate_refresh_seconds
    try:
        await db.call(lambda conn: conn.execute("SELECT 1"))  # ready once both answer
        while not stop.is_set():
            if time.monotonic() >= refresh_at:
                await refresh_aggregates(db)
                refresh_at = time.monotonic() + settings.sink.aggregate_refresh_seconds
            batches = await consumer.getmany(
                timeout_ms=settings.sink.poll_timeout_ms, max_records=settings.sink.max_batch
            )
            if not batches:
                continue
            offsets: dict[TopicPartition, int] = {}
            for tp, records in batches.items():
                stream = streams[tp.topic]
                assert stream.table is not None
                for record in records:
                    sink.add(stream.table, stream.rows(record.key, record.timestamp,
                                                       record.value), tp.topic, record.timestamp)
                offsets[tp] = records[-1].offset + 1
            stored = await db.call(flush)
            for table, n in stored.items():
                rows_stored[table] = rows_stored.get(table, 0) + n
            try:
                await consumer.commit(offsets)
            except CommitFailedError as exc:  # a rebalance during a long outage: replayed
                log.warning("offsets not committed (%s); the rows will come again, as no-ops", exc)
            lag.update(await db.call(partial(_record_metrics, consumer=consumer, offsets=offsets,
                                             stored=stored, streams=streams)))
    finally:
        await consumer.stop()
        await db.close()


async def refresh_aggregates(db: Database) -> None:
    """The buckets written into, refreshed; a refusal (e.g. another sink refreshing the same
    aggregate) leaves the notes for the next round."""
    try:
        done = await db.call(refresh_noted)
    except psycopg.Error as exc:
        log.warning("continuous aggregates not refreshed this round: %s", exc)
        return
    for view, start, end in done:
        log.info("refreshed %s from %s to %s", view, start.isoformat(), end.isoformat())


async def _record_metrics(
    conn: psycopg.AsyncConnection, *, consumer: AIOKafkaConsumer,
    offsets: dict[TopicPartition, int], stored: dict[str, int], streams: dict[str, Stream],
) -> dict[str, int]:
    """One row per topic and batch: rows stored and the lag still ahead of the sink (returned,
    by topic)."""
    ends = await consumer.end_offsets(list(offsets))
    now = datetime.now(UTC)
    lag: dict[str, int] = {}
    for tp, position in offsets.items():
        lag[tp.topic] = lag.get(tp.topic, 0) + max(ends[tp] - position, 0)
    async with conn.transaction():
        for topic, value in lag.items():
            await conn.execute(
                "INSERT INTO pipeline_metrics (ts, component, topic, rows_written, consumer_lag) "
                "VALUES (%s, 'sink', %s, %s, %s) ON CONFLICT DO NOTHING",
                [now, topic, stored.get(_table_name(streams[topic]), 0), value],
            )
    return lag


def _table_name(stream: Stream) -> str:
    return stream.table.name if stream.table is not None else ""


def main(settings: Settings, health: Health) -> None:
    """Run the sink in the foreground until SIGTERM/SIGINT."""
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_sink(settings, stop, health=health)

    asyncio.run(go())
