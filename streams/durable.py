"""Runs a ``Processor`` as a faust agent with replay-safe state and an outbox.

Per key, the table holds ``{"offset", "state", "outbox"}`` in one changelog record, written
once per Kafka record (a batch of readings). A processor that raises on a reading does not stop
the stream: that reading is dead-lettered and the state stays as it was before it. faust flushes the changelog before it commits
source offsets, so after a crash the state may be ahead of the committed offset: records at or
below the stored offset are skipped. Outputs are grouped into one Kafka record per (topic,
key), enter the outbox in the same changelog record and leave it once Kafka confirmed them.
Outputs beyond ``OUTBOX_BYTES`` are sent and confirmed before the changelog write instead.
When partitions are assigned (a restart, a rebalance), the outboxes of their keys are sent again
as soon as the table is recovered, without waiting for the key's next record: a station that
fell silent still gets its last outputs out. Downstream writes are idempotent, so a repeat
costs nothing.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.streams import current_event
from faust.types import TP

from fjsense.deadletter import DeadLetter
from fjsense.health import Health
from fjsense.sensorkind import Stream
from fjsense.topics import DEADLETTER
from streams.contract import Batch, Output, Processor, Ticking

log = logging.getLogger(__name__)

Encoded = tuple[str, str, str]  # topic, key, JSON array of records
QUIET_SECONDS = 10.0  # after an assignment, a partition that gave nothing yet is caught up
MAX_ITEMS = 500  # per output record: a burst (e.g. a day of windows) stays far below 1 MB
# unconfirmed outputs a changelog record may carry: a record of 1,000 buoy readings makes
# 8,000 observations, more than the broker's 1 MB record limit
OUTBOX_BYTES = 256 * 1024


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


def attach(app: faust.App, processor: Processor, source: Stream, partitions: int,
           tick_seconds: float = 1.0, health: Health | None = None) -> None:
    """Register ``processor`` on ``app`` as an agent over its source stream (and, when it
    acts as time passes, a timer that ticks every key it holds). ``health`` shows, per
    partition of the source, the offset last taken in and the partition's end."""
    topic_in = app.topic(source.topic, key_type=bytes, value_type=bytes, partitions=partitions,
                         key_serializer="raw", value_serializer="raw")
    table = app.Table(f"{processor.name}-state", default=dict, partitions=partitions)
    topics: dict[str, faust.TopicT] = {}
    delivered: set[Encoded] = set()
    inflight: dict[Encoded, asyncio.Future] = {}  # sent, not yet confirmed
    processed: dict[int, int] = {}  # partition: offset of the last record taken in
    assigned = [time.monotonic()]  # when partitions were last assigned
    pending: set[asyncio.Future] = set()  # outbox re-sends under way

    async def publish(record: Encoded) -> None:
        name, key, value = record
        topic = topics.setdefault(name, app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"))
        future = cast(asyncio.Future, await topic.send(key=key.encode(), value=value.encode()))
        inflight[record] = future

        def confirmed(done: asyncio.Future) -> None:
            inflight.pop(record, None)
            if not done.cancelled() and done.exception() is None:
                delivered.add(record)

        future.add_done_callback(confirmed)

    def sources() -> list[TP]:
        """This worker's partitions of the source."""
        return [tp for tp in app.assignor.assigned_actives() if tp.topic == source.topic]

    def positions() -> dict[int, tuple[int | None, int | None]]:
        return {tp.partition: (processed.get(tp.partition), app.consumer.highwater(tp))
                for tp in sources()}

    if health is not None:
        health.probe(f"taken:{processor.name}", positions)

    def mine() -> set[int]:
        return {tp.partition for tp in sources()}

    async def commit(key: str, entry: dict[str, Any], offset: int, state: dict[str, Any],
                     outputs: list[Output]) -> None:
        """One changelog write: the state, and the outbox with this step's outputs. Outputs
        too large for the outbox are sent and confirmed first, the state written after them:
        a crash between the two repeats the step, and its outputs, which downstream absorbs."""
        pending = [cast(Encoded, r) for r in map(tuple, entry["outbox"]) if r not in delivered]
        records = encode(outputs)
        if sum(len(r[2]) for r in pending + records) > OUTBOX_BYTES:
            for record in records:
                await publish(record)
            await asyncio.gather(*(inflight[r] for r in pending + records if r in inflight),
                                 return_exceptions=True)
            pending = [r for r in pending + records if r not in delivered]
            delivered.difference_update(records)
            records = []
        delivered.difference_update(map(tuple, entry["outbox"]))
        value = {"offset": offset, "partition": entry.get("partition"), "state": state,
                 "outbox": [list(r) for r in pending + records]}
        if current_event() is not None:
            table[key] = value
        else:  # a timer: faust takes the partition from the current event, we know it
            table.data[key] = value
            table.send_changelog(entry["partition"], key, value)
        for record in records:
            await publish(record)

    if callable(getattr(processor, "tick", None)):
        ticking = cast(Ticking, processor)

        def catching_up() -> bool:
            """Whether a partition of ours still has records to read: then records move event
            time, not the timer (a partition read ahead of another would make the stations
            of the other look silent). A partition that gave no record since the assignment
            counts as behind for ``QUIET_SECONDS`` (no consumer call is made from a timer)."""
            for tp in sources():
                done = processed.get(tp.partition)
                if done is None:
                    if time.monotonic() - assigned[0] < QUIET_SECONDS:
                        return True
                    continue
                end = app.consumer.highwater(tp)
                if end is not None and end > done + 1:
                    return True
            return False

        @app.timer(tick_seconds, name=f"{processor.name}-tick", on_leader=False)
        async def tick() -> None:
            """Time passes for every key of this worker's partitions."""
            if catching_up():
                return
            ours = mine()
            for key in list(table.keys()):
                entry = dict(table[key])  # read afresh: the agent may have moved it meanwhile
                if entry.get("partition") not in ours:
                    continue
                now = time.time()
                if not ticking.due(entry["state"], now):
                    continue
                state = copy.deepcopy(entry["state"])
                try:
                    outputs = ticking.tick(state, now)
                    if outputs:
                        await commit(key, entry, entry["offset"], state, outputs)
                except Exception:
                    log.exception("%s failed to tick %s", processor.name, key)

    @table.on_recover
    async def resend_outboxes() -> None:
        """Outputs of this worker's partitions that may never have reached Kafka."""
        assigned[0] = time.monotonic()
        ours = mine()
        records = [cast(Encoded, tuple(record)) for entry in list(table.values())
                   if entry.get("partition") in ours for record in entry["outbox"]
                   if tuple(record) not in delivered]
        if records:  # sent beside the stream, not inside faust's recovery, which waits for us
            task = asyncio.ensure_future(resend(records))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def resend(records: list[Encoded]) -> None:
        for record in records:
            await publish(record)
        log.warning("%s: sent %d outbox records again after assignment", processor.name,
                    len(records))

    @app.agent(topic_in, name=processor.name)
    async def run(stream: faust.StreamT) -> None:
        async for event in stream.events():
            key = event.key.decode() if event.key else ""
            entry: dict[str, Any] = dict(table[key]) or {"offset": -1, "state": {}, "outbox": []}
            processed[event.message.partition] = event.message.offset
            if event.message.offset <= entry["offset"]:
                continue
            entry["partition"] = event.message.partition
            state, outputs = guarded_step(processor, source, entry["state"], key, event.value,
                                          event.message.timestamp)
            await commit(key, entry, event.message.offset, state, outputs)
