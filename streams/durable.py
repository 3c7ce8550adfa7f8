"""Runs a ``Processor`` as a faust agent with replay-safe state and an outbox (``DurableRunner``).

Per key, the table holds ``{"offset", "state", "outbox"}`` in one changelog record, written
once per Kafka record (a batch of readings). A processor that raises on a reading does not stop
the stream: that reading is dead-lettered and the state stays as it was before it. The changelog
record never waits in faust's send-soon buffer (``write_entry``): it goes to the Kafka client
at once, and faust flushes the client before it commits an offset. So after a crash the state
may be ahead of the committed offset, never behind it: records at or below the stored offset
are skipped. (The consumer in front, ``streams/contiguous.py``, keeps faust from committing
past records it never handed on.) Outputs are grouped into one Kafka record per (topic,
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
import numbers
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import faust
import orjson
from faust.tables.table import Table
from faust.transport.consumer import Consumer
from faust.types import TP

from fjsense.deadletter import DeadLetter
from fjsense.health import Health
from fjsense.sensorkind import Stream
from fjsense.topics import DEADLETTER
from streams.contract import Batch, Output, Processor, Ticking, TypedState

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


def entry_json(entry: dict[str, Any]) -> bytes:
    """A changelog entry as JSON, by orjson: the standard library's encoder took 8.7% of the
    worker's busy time at 1,000 readings/s (the alert benchmark's p99 was 2.19 s without
    orjson, 0.39-0.85 s with it). Numbers of a float or int subclass (numpy's scalars, which
    orjson refuses) are written as plain numbers, as the standard library wrote them; NaN is
    written as null (a typed state's JSON dump has none: pydantic writes null too)."""
    return orjson.dumps(entry, default=plain_number)


def plain_number(value: Any) -> int | float:
    """A number orjson does not know (``numpy.float64``, ``numpy.int64``) as a plain one;
    anything else is refused (orjson's error names its type)."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(type(value).__name__)


def state_copier(processor: Processor) -> Callable[[Any], Any]:
    """How a state of ``processor`` is copied to work on: its own ``copy_state`` (typed
    states), else a deep copy."""
    return cast(Callable[[Any], Any], getattr(processor, "copy_state", copy.deepcopy))


def guarded_step(processor: Processor, source: Stream, state: Any, key: str,
                 value: bytes, timestamp: float, pristine: Callable[[], Any] | None = None
                 ) -> tuple[Any, list[Output]]:
    """Step over one Kafka record; a record that cannot be decoded, or a reading the processor
    raises on, becomes a dead letter (stage ``stream``) and leaves the state as it was before
    it. The rest of the batch is processed (a failing batch is retried reading by reading).

    ``state`` is stepped on in place when ``pristine`` can give it again as it was before
    the record (the runner loads a typed state afresh from its changelog entry); else a copy
    is. A copy per record was the biggest cost of the worker's step after the processors
    themselves (6.6% of its busy time at 1,000 readings/s), and it only matters when a step
    fails."""
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
    copied = state_copier(processor)
    trial = state if pristine is not None else copied(state)
    try:
        return trial, processor.step(trial, Batch(key, items, timestamp))
    except Exception as exc:  # noqa: BLE001 - find the reading at fault, one by one
        log.warning("%s failed on a batch of %d (%r); retrying reading by reading",
                    processor.name, len(items), exc)
    if pristine is not None:
        state = pristine()  # the failed step left its marks on the state it was given
    outputs: list[Output] = []
    for item in items:
        trial = copied(state)
        try:
            outputs += processor.step(trial, Batch(key, [item], timestamp))
        except Exception as exc:  # noqa: BLE001 - any fault of a processor is a dead letter
            outputs.append(letter(exc, item.model_dump_json().encode()))
            continue
        state = trial
    return state, outputs


async def send_record(app: faust.App, topic: faust.TopicT, key: Any, value: Any,
                      partition: int | None = None, key_serializer: Any = None,
                      value_serializer: Any = None) -> asyncio.Future:
    """Serialize as ``topic`` does and hand the record to the Kafka client; returns the
    future Kafka confirms.

    Not ``topic.send``: faust's send path first awaits ``App.maybe_start_producer``, whose
    stampede guard (mode's ``StampedeWrapper``) yields to the event loop three times per call,
    started producer or not. Every record costs each of its processors a changelog entry (and
    some outputs), so each record waited out six turns of the loop or more: measured at 1,000
    readings/s, the two agents of ``fj.raw.power`` spent 4.4 s of every 5 s there, and the
    worker fell behind. The worker's producer is started with the app, before any agent runs.
    """
    channel = cast(faust.Topic, topic)  # faust's stubs lack the headers its topics take
    key_bytes, headers = channel.prepare_key(key, key_serializer, None, {})
    value_bytes, headers = channel.prepare_value(value, value_serializer, None, headers)
    return cast(asyncio.Future, await app.producer.send(
        channel.get_topic_name(), key_bytes, value_bytes, partition=partition, timestamp=None,
        headers=headers or None))


class DurableRunner:
    """One processor run as a faust agent over its source stream, exactly once in effect.

    Per key, its table holds one changelog entry, ``{"offset", "partition", "state",
    "outbox"}``. Each method has one job: ``take`` steps over one Kafka record and ``commit``
    writes the entry and sends the step's outputs (``publish``); ``resend_outboxes`` sends
    what may never have left after a restart; ``tick`` lets time pass for a ticking
    processor. Kept as a class, rather than closures, so that this state is named and each
    path can be read (and tested) alone.
    """

    def __init__(self, app: faust.App, processor: Processor, source: Stream, partitions: int,
                 tick_seconds: float = 1.0, health: Health | None = None) -> None:
        self.app = app
        self.processor = processor
        self.source = source
        self.table = cast(Table, app.Table(f"{processor.name}-state", default=dict,
                                           partitions=partitions))
        self.topics: dict[str, faust.TopicT] = {}
        self.delivered: set[Encoded] = set()  # confirmed by Kafka, not yet out of an outbox
        self.inflight: dict[Encoded, asyncio.Future] = {}  # sent, not yet confirmed
        self.processed: dict[int, int] = {}  # partition: offset of the last record taken in
        self.assigned_at = time.monotonic()  # when partitions were last assigned
        self.resends: set[asyncio.Future] = set()  # outbox re-sends under way
        self.typed = cast(TypedState, processor) if callable(
            getattr(processor, "load_state", None)) else None
        # per key: its entry as the table holds it, and that entry's typed state
        self.loaded: dict[str, tuple[dict[str, Any], Any]] = {}
        topic_in = app.topic(source.topic, key_type=bytes, value_type=bytes,
                             partitions=partitions, key_serializer="raw",
                             value_serializer="raw")
        app.agent(topic_in, name=processor.name)(self.run)
        self.table.on_recover(self.resend_outboxes)
        self.table.on_recover(self.forget_replaced_states)
        if health is not None:
            health.probe(f"taken:{processor.name}", self.positions)
        if callable(getattr(processor, "tick", None)):
            self.ticking = cast(Ticking, processor)
            app.timer(tick_seconds, name=f"{processor.name}-tick", on_leader=False)(self.tick)

    # -- where this worker stands ----------------------------------------------------------

    def sources(self) -> list[TP]:
        """This worker's partitions of the source."""
        return [tp for tp in self.app.assignor.assigned_actives()
                if tp.topic == self.source.topic]

    def mine(self) -> set[int]:
        """The partitions of the source this worker holds now."""
        return {tp.partition for tp in self.sources()}

    def positions(self) -> dict[int, tuple[int | None, int | None]]:
        """Per partition: the offset last taken in, and the partition's end (health)."""
        return {tp.partition: (self.processed.get(tp.partition), self.app.consumer.highwater(tp))
                for tp in self.sources()}

    def lag(self) -> int:
        """Records of this worker's partitions of the source not taken in yet: from the one
        after the last taken (before any, the committed offset faust seeked to) to the end."""
        # faust's own, set at seek and commit
        committed = cast(Consumer, self.app.consumer)._committed_offset
        behind = 0
        for tp in self.sources():
            done = self.processed.get(tp.partition)
            start = done + 1 if done is not None else committed.get(tp)
            end = self.app.consumer.highwater(tp)
            if start is not None and end is not None:
                behind += max(end - start, 0)
        return behind

    # -- step -------------------------------------------------------------------------------

    async def run(self, stream: faust.StreamT) -> None:
        """The agent: every record of the source, in order per partition."""
        async for event in stream.events():
            await self.take(event)

    async def take(self, event: faust.EventT) -> None:
        """One Kafka record: skipped when its key's state already has it (a replay after a
        crash), else stepped over and committed."""
        key = event.key.decode() if event.key else ""
        stored = self.table.data.get(key)
        entry: dict[str, Any] = dict(stored) if stored else {"offset": -1, "state": {},
                                                             "outbox": []}
        self.processed[event.message.partition] = event.message.offset
        if event.message.offset <= entry["offset"]:
            return
        entry["partition"] = event.message.partition
        if self.typed is not None:
            typed = self.typed
            # stepped on in place: no longer the entry's state until the commit writes it
            state = self.typed_state(key, stored)
            self.loaded.pop(key, None)
            state, outputs = guarded_step(
                self.processor, self.source, state, key, event.value, event.message.timestamp,
                pristine=lambda: typed.load_state(stored["state"] if stored else {}))
        else:
            state, outputs = guarded_step(self.processor, self.source, entry["state"], key,
                                          event.value, event.message.timestamp)
        await self.commit(key, entry, event.message.offset, state, outputs)

    def typed_state(self, key: str, stored: dict[str, Any] | None) -> Any:
        """The typed state of ``stored``, the key's entry as the table holds it: loaded once
        per entry written or recovered, not at every record and every tick (a site's PUE
        state is validated by pydantic; ticks look at every key each second).

        Remembered with the entry object itself: an entry recovered or written since is
        another object, and is loaded afresh. A remembered state is never changed in place
        while it is remembered: a step takes it out, steps on it and remembers it again with
        the entry its commit writes; a tick works on a copy."""
        assert self.typed is not None
        remembered = self.loaded.get(key)
        if stored is not None and remembered is not None and remembered[0] is stored:
            return remembered[1]
        state = self.typed.load_state(stored["state"] if stored else {})
        if stored is not None:
            self.loaded[key] = (stored, state)
        return state

    # -- commit and outbox --------------------------------------------------------------------

    async def commit(self, key: str, entry: dict[str, Any], offset: int, state: Any,
                     outputs: list[Output]) -> None:
        """One changelog write: the state (dumped, when typed), and the outbox with this
        step's outputs. Outputs
        too large for the outbox are sent and confirmed first, the state written after them:
        a crash between the two repeats the step, and its outputs, which downstream absorbs."""
        pending = [cast(Encoded, r) for r in map(tuple, entry["outbox"])
                   if r not in self.delivered]
        records = encode(outputs)
        if sum(len(r[2]) for r in pending + records) > OUTBOX_BYTES:
            for record in records:
                await self.publish(record)
            await asyncio.gather(*(self.inflight[r] for r in pending + records
                                   if r in self.inflight), return_exceptions=True)
            pending = [r for r in pending + records if r not in self.delivered]
            self.delivered.difference_update(records)
            records = []
        self.delivered.difference_update(map(tuple, entry["outbox"]))
        value = {"offset": offset, "partition": entry.get("partition"),
                 "state": self.typed.dump_state(state) if self.typed else state,
                 "outbox": [list(r) for r in pending + records]}
        await self.write_entry(key, entry["partition"], value)
        if self.typed is not None:
            self.loaded[key] = (value, state)  # the table holds ``value`` itself
        for record in records:
            await self.publish(record)

    async def write_entry(self, key: str, partition: int, value: dict[str, Any]) -> None:
        """Store the key's entry and hand its changelog record to the Kafka client at once
        (faust's publish-on-commit is off, its default); faust flushes the client before it
        commits an offset, so the record is in Kafka before the offset that made it.

        Not ``table[key] = value``: faust queues that in its own send-soon buffer, whose flush
        before an offset commit gives up after 0.1 s per record (``ProducerBuffer.flush_atmost``).
        On a busy host the source offsets were then committed ahead of their changelog; a
        worker killed at that moment recovered an older state, skipped the committed records
        and lost their outputs (the restarted worker that "takes nothing" of issue 20)."""
        self.table.data[key] = value
        await send_record(self.app, self.table.changelog_topic, key, entry_json(value),
                          partition, self.table.key_serializer, "raw")

    async def publish(self, record: Encoded) -> None:
        """Send one output record; once Kafka confirms it, it may leave its outbox."""
        name, key, value = record
        topic = self.topics.setdefault(name, self.app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw",
            value_serializer="raw"))
        future = await send_record(self.app, topic, key.encode(), value.encode())
        self.inflight[record] = future

        def confirmed(done: asyncio.Future) -> None:
            self.inflight.pop(record, None)
            if not done.cancelled() and done.exception() is None:
                self.delivered.add(record)

        future.add_done_callback(confirmed)

    # -- recovery -------------------------------------------------------------------------------

    async def forget_replaced_states(self) -> None:
        """After a recovery, the remembered states whose entries the table no longer holds
        (recovered afresh, or of partitions gone to another worker) are let go: they would
        never be used again, and would keep their entries alive."""
        self.loaded = {key: (stored, state) for key, (stored, state) in self.loaded.items()
                       if self.table.data.get(key) is stored}

    async def resend_outboxes(self) -> None:
        """Outputs of this worker's partitions that may never have reached Kafka, sent as soon
        as the table is recovered: a station that fell silent still gets its last out."""
        self.assigned_at = time.monotonic()
        ours = self.mine()
        records = [cast(Encoded, tuple(record)) for entry in list(self.table.values())
                   if entry.get("partition") in ours for record in entry["outbox"]
                   if tuple(record) not in self.delivered]
        if records:  # sent beside the stream, not inside faust's recovery, which waits for us
            task = asyncio.ensure_future(self._resend(records))
            self.resends.add(task)
            task.add_done_callback(self.resends.discard)

    async def _resend(self, records: list[Encoded]) -> None:
        for record in records:
            await self.publish(record)
        log.warning("%s: sent %d outbox records again after assignment", self.processor.name,
                    len(records))

    # -- time passing ------------------------------------------------------------------------

    def catching_up(self) -> bool:
        """Whether a partition of ours still has records to read: then records move event
        time, not the timer (a partition read ahead of another would make the stations of
        the other look silent). A partition that gave no record since the assignment counts
        as behind for ``QUIET_SECONDS`` (no consumer call is made from a timer)."""
        for tp in self.sources():
            done = self.processed.get(tp.partition)
            if done is None:
                if time.monotonic() - self.assigned_at < QUIET_SECONDS:
                    return True
                continue
            end = self.app.consumer.highwater(tp)
            if end is not None and end > done + 1:
                return True
        return False

    async def tick(self) -> None:
        """Time passes for every key of this worker's partitions that is due; a key's state
        is copied only to tick it, and written only with outputs."""
        if self.catching_up():
            return
        ours = self.mine()
        copied = state_copier(self.processor)
        for key in list(self.table.keys()):
            stored = self.table.data.get(key)  # afresh: the agent may have moved it meanwhile
            if not stored or stored.get("partition") not in ours:
                continue
            entry = dict(stored)
            now = time.time()
            # read in place to ask whether it is due, copied to tick
            current = self.typed_state(key, stored) if self.typed else entry["state"]
            if not self.ticking.due(current, now):
                continue
            state = copied(current)
            try:
                outputs = self.ticking.tick(state, now)
                if outputs:
                    await self.commit(key, entry, entry["offset"], state, outputs)
            except Exception:
                log.exception("%s failed to tick %s", self.processor.name, key)


def attach(app: faust.App, processor: Processor, source: Stream, partitions: int,
           tick_seconds: float = 1.0, health: Health | None = None) -> DurableRunner:
    """Register ``processor`` on ``app`` as an agent over its source stream (and, when it
    acts as time passes, a timer that ticks every key it holds). ``health`` shows, per
    partition of the source, the offset last taken in and the partition's end."""
    return DurableRunner(app, processor, source, partitions, tick_seconds, health)
