"""Runs a ``Processor`` as a faust agent with replay-safe state and an outbox.

Per key, the table holds ``{"offset", "state", "outbox"}`` in one changelog record, written
once per Kafka record (a batch of readings). faust flushes the changelog before it commits
source offsets, so after a crash the state may be ahead of the committed offset: records at or
below the stored offset are skipped. Outputs are grouped into one Kafka record per (topic,
key), enter the outbox in the same changelog record and leave it once Kafka confirmed them;
after a restart the outbox is sent again. Downstream writes are idempotent, so a repeat costs
nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any, cast

import faust

from fjsense.kinds.base import Stream
from streams.contract import Batch, Output, Processor

log = logging.getLogger(__name__)

Encoded = tuple[str, str, str]  # topic, key, JSON array of records
MAX_ITEMS = 500  # per output record: a burst (e.g. a day of windows) stays far below 1 MB


def encode(outputs: list[Output]) -> list[Encoded]:
    """One Kafka record per (topic, key) and ``MAX_ITEMS`` outputs, in first-seen order."""
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for output in outputs:
        grouped[(output.topic, output.key)].append(output.value)
    return [(topic, key, Stream.encode(values[i:i + MAX_ITEMS]).decode())
            for (topic, key), values in grouped.items()
            for i in range(0, len(values), MAX_ITEMS)]


def attach(app: faust.App, processor: Processor, source: Stream, partitions: int) -> None:
    """Register ``processor`` on ``app`` as an agent over its source stream."""
    topic_in = app.topic(source.topic, key_type=bytes, value_type=bytes, partitions=partitions,
                         key_serializer="raw", value_serializer="raw")
    table = app.Table(f"{processor.name}-state", default=dict, partitions=partitions)
    topics: dict[str, faust.TopicT] = {}
    delivered: set[Encoded] = set()
    recovered: set[str] = set()

    async def publish(record: Encoded) -> None:
        name, key, value = record
        topic = topics.setdefault(name, app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"))
        future = cast(asyncio.Future, await topic.send(key=key.encode(), value=value.encode()))

        def confirmed(done: asyncio.Future) -> None:
            if not done.cancelled() and done.exception() is None:
                delivered.add(record)

        future.add_done_callback(confirmed)

    @app.agent(topic_in, name=processor.name)
    async def run(stream: faust.StreamT) -> None:
        async for event in stream.events():
            key = event.key.decode() if event.key else ""
            entry: dict[str, Any] = dict(table[key]) or {"offset": -1, "state": {}, "outbox": []}
            pending = [r for r in map(tuple, entry["outbox"]) if r not in delivered]
            if key not in recovered:
                recovered.add(key)
                for record in pending:
                    await publish(cast(Encoded, record))
            if event.message.offset <= entry["offset"]:
                continue
            state = entry["state"]
            batch = Batch(key, source.decode(event.value), event.message.timestamp)
            records = encode(processor.step(state, batch))
            delivered.difference_update(map(tuple, entry["outbox"]))
            table[key] = {"offset": event.message.offset, "state": state,
                          "outbox": [list(r) for r in pending + records]}
            for record in records:
                await publish(record)
