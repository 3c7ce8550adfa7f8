"""Runs a ``Processor`` as a faust agent with replay-safe state and an outbox.

Per key, the table holds ``{"offset", "state", "outbox"}`` in one changelog record, written
once per Kafka record (a batch of readings). A processor that raises on a reading does not stop
the stream: that reading is dead-lettered and the state stays as it was before it. faust flushes the changelog before it commits
source offsets, so after a crash the state may be ahead of the committed offset: records at or
below the stored offset are skipped. Outputs are grouped into one Kafka record per (topic,
key), enter the outbox in the same changelog record and leave it once Kafka confirmed them.
When partitions are assigned (a restart, a rebalance), the outboxes of their keys are sent again
as soon as the table is recovered, without waiting for the key's next record: a station that
fell silent still gets its last outputs out. Downstream writes are idempotent, so a repeat
costs nothing.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, cast

import faust

from fjsense.deadletter import DeadLetter
from fjsense.kinds.base import Stream
from fjsense.topics import DEADLETTER
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


def guarded_step(processor: Processor, source: Stream, state: dict[str, Any], key: str,
                 value: bytes, timestamp: float) -> tuple[dict[str, Any], list[Output]]:
    """Step over one Kafka record; a record that cannot be decoded, or a reading the processor
    raises on, becomes a dead letter (stage ``stream``) and leaves the state as it was before
    it. The rest of the batch is processed (a failing batch is retried reading by reading)."""
    received = datetime.fromtimestamp(timestamp, UTC)

    def letter(exc: Exception, payload: bytes) -> Output:
        log.error("%s refused a record of %s: %r", processor.name, source.topic, exc)
        return Output(DEADLETTER, key, DeadLetter.of(
            "stream", f"{processor.name}: {type(exc).__name__}: {exc}", source.topic, payload,
            received))

    try:
        items = source.decode(value)
    except ValueError as exc:
        return state, [letter(exc, value)]
    trial = copy.deepcopy(state)
    try:
        return trial, processor.step(trial, Batch(key, items, timestamp))
    except Exception as exc:  # noqa: BLE001 - find the reading at fault, one by one
        log.warning("%s failed on a batch of %d (%r); retrying reading by reading",
                    processor.name, len(items), exc)
    outputs: list[Output] = []
    for item in items:
        trial = copy.deepcopy(state)
        try:
            outputs += processor.step(trial, Batch(key, [item], timestamp))
        except Exception as exc:  # noqa: BLE001 - any fault of a processor is a dead letter
            outputs.append(letter(exc, item.model_dump_json().encode()))
            continue
        state = trial
    return state, outputs


def attach(app: faust.App, processor: Processor, source: Stream, partitions: int) -> None:
    """Register ``processor`` on ``app`` as an agent over its source stream."""
    topic_in = app.topic(source.topic, key_type=bytes, value_type=bytes, partitions=partitions,
                         key_serializer="raw", value_serializer="raw")
    table = app.Table(f"{processor.name}-state", default=dict, partitions=partitions)
    topics: dict[str, faust.TopicT] = {}
    delivered: set[Encoded] = set()

    async def publish(record: Encoded) -> None:
        name, key, value = record
        topic = topics.setdefault(name, app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"))
        future = cast(asyncio.Future, await topic.send(key=key.encode(), value=value.encode()))

        def confirmed(done: asyncio.Future) -> None:
            if not done.cancelled() and done.exception() is None:
                delivered.add(record)

        future.add_done_callback(confirmed)

    @table.on_recover
    async def resend_outboxes() -> None:
        """Outputs of this worker's partitions that may never have reached Kafka."""
        mine = {tp.partition for tp in app.assignor.assigned_actives()
                if tp.topic == source.topic}
        resent = 0
        for entry in list(table.values()):
            if entry.get("partition") in mine:
                for record in entry["outbox"]:
                    if tuple(record) not in delivered:
                        await publish(cast(Encoded, tuple(record)))
                        resent += 1
        if resent:
            log.warning("%s: sent %d outbox records again after assignment", processor.name,
                        resent)

    @app.agent(topic_in, name=processor.name)
    async def run(stream: faust.StreamT) -> None:
        async for event in stream.events():
            key = event.key.decode() if event.key else ""
            entry: dict[str, Any] = dict(table[key]) or {"offset": -1, "state": {}, "outbox": []}
            pending = [r for r in map(tuple, entry["outbox"]) if r not in delivered]
            if event.message.offset <= entry["offset"]:
                continue
            state, outputs = guarded_step(processor, source, entry["state"], key, event.value,
                                          event.message.timestamp)
            records = encode(outputs)
            delivered.difference_update(map(tuple, entry["outbox"]))
            table[key] = {"offset": event.message.offset, "partition": event.message.partition,
                          "state": state, "outbox": [list(r) for r in pending + records]}
            for record in records:
                await publish(record)
