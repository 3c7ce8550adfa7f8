"""Runs a ``Processor`` as a faust agent with replay-safe state and an outbox.

Per key, the table holds ``{"offset", "state", "outbox"}`` in one changelog record. faust
flushes the changelog before it commits source offsets, so after a crash the state may be
ahead of the committed offset: messages at or below the stored offset are skipped. Outputs
enter the outbox in the same record and leave it once Kafka confirmed them; after a restart
the outbox is sent again. Downstream writes are idempotent, so a repeat costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust

from streams.contract import Output, Processor

log = logging.getLogger(__name__)


def attach(app: faust.App, processor: Processor, partitions: int) -> None:
    """Register ``processor`` on ``app`` as an agent over its source topic."""
    source = app.topic(processor.source, key_type=bytes, value_type=bytes, partitions=partitions,
                       key_serializer="raw", value_serializer="raw")
    table = app.Table(f"{processor.name}-state", default=dict, partitions=partitions)
    topics: dict[str, faust.TopicT] = {}
    delivered: set[str] = set()
    recovered: set[str] = set()

    async def publish(output: Output) -> None:
        topic = topics.setdefault(
            output.topic, app.topic(output.topic, key_type=bytes, value_type=bytes,
                                    key_serializer="raw", value_serializer="raw")
        )
        future = cast(asyncio.Future, await topic.send(key=output.key.encode(),
                                                       value=output.encode()))

        def confirmed(done: asyncio.Future, oid: str = output.id) -> None:
            if not done.cancelled() and done.exception() is None:
                delivered.add(oid)

        future.add_done_callback(confirmed)

    @app.agent(source, name=processor.name)
    async def run(stream: faust.StreamT) -> None:
        async for event in stream.events():
            key = event.key.decode() if event.key else ""
            record: dict[str, Any] = dict(table[key]) or {"offset": -1, "state": {}, "outbox": []}
            pending = [Output(**o) for o in record["outbox"] if _oid(o) not in delivered]
            if key not in recovered:
                recovered.add(key)
                for output in pending:
                    await publish(output)
            if event.message.offset <= record["offset"]:
                continue
            state = record["state"]
            outputs = processor.step(key, state, event.value)
            delivered.difference_update(_oid(o) for o in record["outbox"])
            table[key] = {
                "offset": event.message.offset,
                "state": state,
                "outbox": [o.__dict__ for o in pending + outputs],
            }
            for output in outputs:
                await publish(output)


def _oid(output: dict[str, Any]) -> str:
    return Output(**output).id
