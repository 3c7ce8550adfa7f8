"""On the embedded broker the worker's producer sends changelog records one per batch (faust
reads a changelog's end, which Tansu reports from its last batch) and every other record in
batches (real Tansu; batch objects counted as the broker keeps them)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import faust
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from benchmarks.batches import count_batches
from fjsense.settings import Settings
from streams.changelog_batches import EmbeddedTransport

pytestmark = pytest.mark.integration

CHANGELOG, DERIVED = "batches-summer-state-changelog", "batches.derived"
RECORDS = 200


async def send_both(settings: Settings, datadir: Path) -> None:
    """``RECORDS`` records to each topic, handed to the clients together, then one flush.
    (Awaited one by one, as the runner sends, records mostly leave alone either way: the
    clients linger 0 ms. This shows what each client may do, not what a quiet worker does.)"""
    app = faust.App("batches", broker=f"kafka://{settings.kafka.servers}", store="memory://",
                    datadir=str(datadir), web_enabled=False, topic_partitions=1)
    app.transport = EmbeddedTransport(app.conf.broker_consumer, app)
    await app.producer.start()
    try:
        await asyncio.gather(*(app.producer.send(topic, b"k", b"%d" % n, 0, None, None)
                               for n in range(RECORDS) for topic in (CHANGELOG, DERIVED)))
        await app.producer.flush()  # faust's flush before a commit: both clients
    finally:
        await app.producer.stop()


def test_changelog_records_go_alone_and_the_rest_in_batches(settings: Settings,
                                                            tmp_path: Path) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers)
    admin.create_topics([NewTopic(CHANGELOG, 1, 1), NewTopic(DERIVED, 1, 1)])
    admin.close()
    asyncio.run(send_both(settings, tmp_path))
    [changelog] = count_batches(settings.kafka.servers, CHANGELOG, 1)
    [derived] = count_batches(settings.kafka.servers, DERIVED, 1)
    assert (changelog.records, changelog.batches) == (RECORDS, RECORDS)
    assert derived.records == RECORDS and derived.batches < RECORDS / 5
