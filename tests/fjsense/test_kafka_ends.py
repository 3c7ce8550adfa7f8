"""On the embedded broker, a partition written in multi-record batches (as every producer but
faust's changelogs now writes) is read right from a committed offset inside a batch, and its
real end is found though ListOffsets under-reports it (issue 20)."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from benchmarks.batches import count_batches
from fjsense.kafka_admin import ensure_topics
from fjsense.kafka_ends import READ_WAIT_MS, end_offsets
from fjsense.settings import Settings

pytestmark = pytest.mark.integration

TOPIC = "fj.raw.power"


def test_batched_records_are_read_from_inside_a_batch_and_their_end_is_found(
        settings: Settings) -> None:
    ensure_topics(settings)
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, linger_ms=100)
    for n in range(300):
        producer.send(TOPIC, key=b"changle-dc1", value=b"%d" % n, partition=0)
    producer.send(TOPIC, key=b"mawei-dc2", value=b"alone", partition=1)
    producer.flush()
    producer.close()
    [zero, one, *_] = count_batches(settings.kafka.servers, TOPIC, settings.kafka.partitions)
    assert (zero.records, one.records, one.batches) == (300, 1, 1)
    assert zero.batches < 10  # batched, not one record per batch

    tps = [TopicPartition(TOPIC, p) for p in range(settings.kafka.partitions)]
    probe = KafkaConsumer(bootstrap_servers=settings.kafka.servers,
                          fetch_max_wait_ms=READ_WAIT_MS)
    try:
        assert probe.end_offsets(tps)[tps[0]] < 300  # what the embedded broker reports
        assert end_offsets(settings, probe, tps) == {tps[0]: 300, tps[1]: 1, tps[2]: 0,
                                                     tps[3]: 0}
    finally:
        probe.close()

    group = {"bootstrap_servers": settings.kafka.servers, "group_id": "mid-batch",
             "enable_auto_commit": False, "auto_offset_reset": "earliest"}
    first = KafkaConsumer(**group)
    first.assign([tps[0]])
    first.commit({tps[0]: OffsetAndMetadata(150, "", -1)})  # inside a batch
    first.close()
    second = KafkaConsumer(**group, consumer_timeout_ms=3000)
    second.assign([tps[0]])
    assert [int(r.value) for r in second] == list(range(150, 300))
    second.close()
