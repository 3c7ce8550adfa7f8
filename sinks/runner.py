"""The sink process: Kafka (aiokafka consumer group) → PostgreSQL, offsets after commit."""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime

import psycopg
from aiokafka import AIOKafkaConsumer, TopicPartition

from fjsense.credentials import Credentials
from fjsense.kinds.base import Stream
from fjsense.settings import Settings
from sinks.notifiers import Notifier, default_notifiers, dispatch
from sinks.postgres import PostgresSink
from sinks.tables import stored_streams

log = logging.getLogger(__name__)

GROUP_ID = "fjsense-sink"


async def run_sink(
    settings: Settings, stop: asyncio.Event, notifiers: list[Notifier] | None = None
) -> None:
    """Consume every sink topic in batches until ``stop``; never commit before the database."""
    streams = stored_streams(settings)
    notifiers = default_notifiers(settings) if notifiers is None else notifiers
    consumer = AIOKafkaConsumer(
        *streams,
        bootstrap_servers=settings.kafka.servers,
        group_id=GROUP_ID,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    conn = await psycopg.AsyncConnection.connect(Credentials(settings).dsn("writer"))
    sink = PostgresSink(conn)
    await consumer.start()
    try:
        await dispatch(conn, notifiers)  # what a crashed predecessor stored but did not notify
        while not stop.is_set():
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
                    sink.add(stream.table, stream.rows(record.key, record.timestamp, record.value))
                offsets[tp] = records[-1].offset + 1
            stored = await sink.flush()
            await consumer.commit(offsets)
            await _record_metrics(conn, consumer, offsets, stored, streams)
            await dispatch(conn, notifiers)
    finally:
        await consumer.stop()
        await conn.close()


async def _record_metrics(
    conn: psycopg.AsyncConnection, consumer: AIOKafkaConsumer,
    offsets: dict[TopicPartition, int], stored: dict[str, int], streams: dict[str, Stream],
) -> None:
    """One row per topic and batch: rows stored and the lag still ahead of the sink."""
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


def _table_name(stream: Stream) -> str:
    return stream.table.name if stream.table is not None else ""


def main(settings: Settings) -> None:
    """Run the sink in the foreground until SIGTERM/SIGINT."""
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_sink(settings, stop)

    asyncio.run(go())
