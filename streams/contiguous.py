"""A faust consumer that hands each source partition's records on in unbroken offset order, from
the offset faust last sought (``ContiguousConsumer``, its rule in ``OffsetGate``).

Why: after an assignment faust resumes fetching a partition before it seeks it to the committed
offset (``Recovery.on_recovery_completed``: ``resume_partitions``, then ``perform_seek``).
Records of a fetch made before the seek still come after it. faust takes the jump from the
sought offset to such a record for a gap (compacted and transactional topics have real ones),
counts the offsets in between as acknowledged and commits past them, though no agent took
them; when they come again from the sought position it drops them as read ("DROPPED
MESSAGE"). A worker SIGKILLed in a storm of 1,000 breaches lost 1 to 137 alert transitions so
(issue 20; faust-streaming #221, #606 tell of the same family).

The gate lets a record of an acking (source) topic through only when it is the next one
expected. A record from before the seek arriving after it is dropped; the seek fetches it
again. A real gap (a compacted or truncated log) is taken once the same jump comes back after a
seek of our own.

Once a partition is sought, the gate also sets faust's read offset before each record it hands
on. faust's fetch loop stores a record's offset as read only after its stream took it, and a
record fetched before the seek could be taken while the seek ran: its offset then overwrote
the sought one, and faust dropped as already read the records from the sought offset up to it,
which no agent had seen (a killed worker's successor lost 5 of 1,000 transitions so).

faust's stream skips a record fetched under an older generation, or taken while the flow is
stopped for a rebalance, and acks it all the same. The gate had handed it on, so it dropped the
record when it came again: one transition in a kill loop was committed and never judged so.
The consumer refuses that ack, rewinds the gate and seeks the partition back to the record.

faust's changelog recovery keeps its own bounds, so changelogs pass untouched. This is a fix
of faust, not of the embedded broker: it stays on under Apache Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from enum import Enum
from typing import Any

from faust.transport.consumer import ensure_TP
from faust.transport.drivers.aiokafka import Consumer, Transport
from faust.types import TP, Message

log = logging.getLogger(__name__)


class Verdict(Enum):
    """What the gate does with a record of an acking topic."""

    PASS = "pass"  # the next record: hand it on
    DROP = "drop"  # read before the seek, or again: the sought position brings it
    RESEEK = "reseek"  # dropped; seek to the expected offset, in case nothing else will


class OffsetGate:
    """Per partition, the offset expected next. A partition not sought since it was assigned
    takes what comes, as faust alone would (dropping it stalled a worker whose seek never
    came); a record taken then and again after the seek is skipped by the runner's offsets."""

    def __init__(self) -> None:
        self.expected: dict[TP, int | None] = {}  # None: sought to no committed offset
        self.jumped: dict[TP, tuple[int, int]] = {}  # (expected, offset) of the last jump

    def sought(self, tp: TP, offset: int | None) -> None:
        """faust moved the partition to ``offset``: from now on that offset comes next."""
        self.expected[tp] = offset if offset is not None and offset >= 0 else None
        self.jumped.pop(tp, None)

    def revoked(self, tps: Iterable[TP]) -> None:
        """The partitions are another worker's now: forget where they stood."""
        for tp in tps:
            self.expected.pop(tp, None)
            self.jumped.pop(tp, None)

    def read_offset(self, tp: TP) -> int | None:
        """For a sought partition, the read offset faust must hold before the record the gate
        passes next: the one before the expected offset (so a jump the gate accepts is still a
        gap to faust, which then commits past it), or None when sought to no offset."""
        expected = self.expected[tp]
        return None if expected is None else expected - 1

    def rewind(self, tp: TP, offset: int) -> None:
        """A record the gate handed on was not taken after all: it comes next again."""
        expected = self.expected.get(tp)
        if expected is not None and offset < expected:
            self.expected[tp] = offset
            self.jumped.pop(tp, None)

    def admit(self, tp: TP, offset: int) -> Verdict:
        """Whether the record at ``offset`` may go on; a record that passes moves the gate."""
        expected = self.expected.get(tp)
        if expected is not None and offset < expected:
            return Verdict.DROP
        if expected is not None and offset > expected:
            if self.jumped.get(tp) != (expected, offset):
                self.jumped[tp] = (expected, offset)
                return Verdict.RESEEK
            log.warning("%s: offsets %d to %d are not in the log; going on from %d",
                        tp, expected, offset - 1, offset)
        self.expected[tp] = offset + 1
        self.jumped.pop(tp, None)
        return Verdict.PASS


class ContiguousConsumer(Consumer):
    """faust's aiokafka consumer with an ``OffsetGate`` before its fetch loop: the loop then
    never sees a jump, so never counts unread offsets as acknowledged."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = OffsetGate()
        self.rewinds: dict[TP, int] = {}  # per partition, the lowest record to fetch again
        self.rewinding: set[asyncio.Future] = set()  # held, or the loop may drop them unrun

    async def seek_to_committed(self) -> Mapping[TP, int]:
        """faust's seek after an assignment, told to the gate. A source partition with no
        committed offset (or 0) is sought to the log's start: aiokafka leaves those where its
        fetch stands, and a worker killed before its first commit left its successor standing
        past records that faust had fetched and then cleared in the rebalance."""
        committed = dict(await super().seek_to_committed())
        acking = self.app.topics.acks_enabled_for
        fresh = [ensure_TP(tp) for tp, offset in committed.items()
                 if not offset and acking(tp.topic)]
        if fresh:
            earliest = await self.earliest_offsets(*fresh)
            for tp in fresh:
                await self._seek(tp, earliest[tp])
                committed[tp] = earliest[tp]
        for tp, offset in committed.items():
            self.gate.sought(ensure_TP(tp), offset)
        return committed

    async def seek(self, partition: TP, offset: int) -> None:
        """Any other seek of faust's, told to the gate."""
        await super().seek(partition, offset)
        self.gate.sought(ensure_TP(partition), offset)

    def ack(self, message: Message) -> bool:
        """faust's ack, refused for a source record that no stream took (a stream skips a
        record of an older generation, or one taken while the flow is stopped, and acks it):
        acked, it would be committed unjudged. It is fetched again instead."""
        if message.tracked or not self.app.topics.acks_enabled_for(message.topic):
            return super().ack(message)
        tp = ensure_TP(message.tp)
        self.gate.rewind(tp, message.offset)
        if tp not in self.rewinds:
            task = asyncio.ensure_future(self._fetch_again(tp))
            self.rewinding.add(task)
            task.add_done_callback(self.rewinding.discard)
        self.rewinds[tp] = min(self.rewinds.get(tp, message.offset), message.offset)
        return False

    async def _fetch_again(self, tp: TP) -> None:
        """Seek to the lowest refused record of the partition, once the acks of the skipped
        records that came with it are all in."""
        await asyncio.sleep(0)
        offset = self.rewinds.pop(tp, None)
        if offset is not None and tp in self.gate.expected:
            await self.seek(tp, offset)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """The gate forgets revoked partitions before faust does its part."""
        self.gate.revoked(revoked)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        """faust's fetched records, those of acking topics through the gate (changelogs and
        other topics pass as they come)."""
        acking = self.app.topics.acks_enabled_for
        async for tp, message in super().getmany(timeout):
            if not acking(tp.topic):
                yield tp, message
                continue
            sought = tp in self.gate.expected
            read = self.gate.read_offset(tp) if sought else None
            verdict = self.gate.admit(tp, message.offset)
            if verdict is Verdict.PASS:
                if sought:  # the gate keeps the order now, not a read offset set late
                    self._read_offset[tp] = read
                yield tp, message
            elif verdict is Verdict.RESEEK:
                expected = self.gate.expected[tp]
                assert expected is not None  # a jump is only from a known offset
                await self._seek(tp, expected)


class ContiguousTransport(Transport):
    """faust's aiokafka transport, whose consumer is the ``ContiguousConsumer``."""

    Consumer = ContiguousConsumer
