"""On the embedded broker the worker writes its changelogs in batches, and faust's table
recovery is told where each changelog really ends: Tansu reports a partition's end from its
last batch (real Tansu; batch objects counted as the broker keeps them). Its fetches wait as
long as the sink's, not faust's 1.5 s."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from faust.types import TP
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from benchmarks.batches import count_batches
from fjsense.kafka_admin import TANSU_FETCH_WAIT_MS
from fjsense.settings import Settings
from streams.embedded_broker import EmbeddedTransport

pytestmark = pytest.mark.integration

CHANGELOG, DERIVED = "ends-summer-state-changelog", "ends.derived"
RECORDS = 300


def write_batched(settings: Settings) -> None:
    """``RECORDS`` records to partition 0 of each topic in a few batches, one to partition 1."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, linger_ms=100)
    for topic in (CHANGELOG, DERIVED):
        for n in range(RECORDS):
            producer.send(topic, key=b"k%d" % n, value=b"%d" % n, partition=0)
        producer.send(topic, key=b"alone", value=b"1", partition=1)
    producer.flush()
    producer.close()


async def highwaters(settings: Settings, datadir: Path) -> tuple[dict[TP, int], int]:
    """What the worker's consumer on the embedded broker tells faust's recovery, and the fetch
    wait its Kafka client asks for."""
    app = faust.App("ends", broker=f"kafka://{settings.kafka.servers}", store="memory://",
                    datadir=str(datadir), web_enabled=False, topic_partitions=2)
    app.transport = EmbeddedTransport(app.conf.broker_consumer, app)
    await app.consumer.start()
    try:
        ends = await app.consumer.highwaters(
            *(TP(topic, p) for topic in (CHANGELOG, DERIVED) for p in range(3)))
        client = app.consumer._thread._ensure_consumer()  # type: ignore[attr-defined]
        return dict(ends), client._fetcher._fetch_max_wait_ms
    finally:
        await app.consumer.stop()


def test_changelog_ends_are_read_past_their_last_batch_and_fetches_wait_briefly(settings: Settings,
                                                       tmp_path: Path) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers)
    admin.create_topics([NewTopic(CHANGELOG, 3, 1), NewTopic(DERIVED, 3, 1)])
    admin.close()
    write_batched(settings)
    zero, one, two = count_batches(settings.kafka.servers, CHANGELOG, 3)
    assert (zero.records, one.records, two.records) == (RECORDS, 1, 0)
    assert zero.batches < 10  # batched, so Tansu reports the end of partition 0 short

    ends, fetch_wait_ms = asyncio.run(highwaters(settings, tmp_path))
    assert fetch_wait_ms == TANSU_FETCH_WAIT_MS == 50
    assert [ends[TP(CHANGELOG, p)] for p in range(3)] == [RECORDS, 1, 0]
    # another topic's end is left as the broker reports it (no reader recovers from it)
    assert ends[TP(DERIVED, 0)] < RECORDS
    assert [ends[TP(DERIVED, p)] for p in (1, 2)] == [1, 0]
