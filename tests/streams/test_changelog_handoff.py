"""The runner's changelog record never waits in faust's send-soon buffer (real Tansu). faust's
own ``table[key] = value`` only queues it there, and that buffer's flush before an offset
commit gives up after 0.1 s per record: on a busy host the source offset was committed first,
and a worker killed then recovered an older state and lost the outputs of the records it
skipped (issue 20). The runner's send goes to the Kafka client at once (faust's publish-on-commit
is off), and faust flushes the client before it commits an offset."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import faust
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from fjsense.settings import Settings
from streams.durable import DurableRunner
from tests.kafka_read import read_topic
from tests.streams.test_durable import SOURCE, Summer

pytestmark = pytest.mark.integration

CHANGELOG = "handoff-summer-state-changelog"


async def commit_one(settings: Settings, datadir: Path) -> int:
    """Commit one step with no outputs; what is still in faust's send-soon buffer after it."""
    app = faust.App("handoff", broker=f"kafka://{settings.kafka.servers}", store="memory://",
                    datadir=str(datadir), web_enabled=False, topic_partitions=1)
    runner = DurableRunner(app, Summer(), SOURCE, partitions=1)
    await app.producer.start()
    try:
        entry = {"offset": 6, "partition": 0, "state": {"total": 1.0, "n": 1}, "outbox": []}
        await runner.commit("lab", entry, 7, {"total": 21.0, "n": 2}, [])
        left_behind = app.producer.buffer.size
        await app.producer.flush()
    finally:
        await app.producer.stop()
    return left_behind


def test_a_commit_leaves_nothing_in_fausts_send_soon_buffer(
        settings: Settings, tmp_path: Path):
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers)
    admin.create_topics([NewTopic(CHANGELOG, 1, 1)])
    admin.close()
    assert asyncio.run(commit_one(settings, tmp_path)) == 0
    [record] = read_topic(settings, CHANGELOG, expect=1)
    assert json.loads(record.value) == {"offset": 7, "partition": 0,
                                        "state": {"total": 21.0, "n": 2}, "outbox": []}
    assert record.key == b'"lab"' and record.partition == 0
