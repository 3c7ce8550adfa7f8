"""Where each partition of a topic really ends, on either broker.

Why: the embedded broker (Tansu 0.6) answers ListOffsets(Latest), the clients' ``end_offsets``,
with the base offset of a partition's last *batch* plus one. Since the producers batch
(issue 20), that under-reports by up to a batch: the demo's record counts and the lag that
``fjsense health`` judges would read low. The real end is found by reading the last batch:
from the reported end minus one, the consumer's position once nothing more comes is the end.
Under Apache Kafka (``kafka.bootstrap`` set) the reported end is the end, and that is used.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from fjsense.settings import Settings

READ_WAIT_MS = 50  # a fetch at the tail: the embedded broker holds an empty one for its wait
READ_SECONDS = 5.0  # at most this long reading last batches


def end_offsets(settings: Settings, consumer: KafkaConsumer,
                partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """The offset after each partition's last record. ``consumer`` is one of no group, kept
    for this (it is assigned the partitions to read their last batches), made with
    ``fetch_max_wait_ms=READ_WAIT_MS``: the embedded broker holds a fetch that finds nothing
    for the whole wait."""
    reported: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    if settings.kafka.external:
        return reported
    return _past_last_batches(consumer, reported)


def embedded_ends(servers: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """``end_offsets`` on the embedded broker, with a consumer of its own: for a caller that
    has no kafka-python consumer to lend, such as faust's table recovery
    (``streams/embedded_broker.py``)."""
    consumer = KafkaConsumer(bootstrap_servers=servers, fetch_max_wait_ms=READ_WAIT_MS,
                             enable_auto_commit=False)
    try:
        return _past_last_batches(consumer, consumer.end_offsets(partitions))
    finally:
        consumer.close()


def _past_last_batches(consumer: KafkaConsumer, reported: dict[TopicPartition, int]
                       ) -> dict[TopicPartition, int]:
    """Each reported end corrected by reading the partition's last batch from it."""
    ends = {tp: end for tp, end in reported.items() if end > 0}
    if not ends:
        return reported
    consumer.assign(list(ends))
    for tp, end in ends.items():
        consumer.seek(tp, end - 1)  # inside the last batch: its records from here come
    deadline = time.monotonic() + READ_SECONDS
    waiting = set(ends)
    while time.monotonic() < deadline:
        got = consumer.poll(timeout_ms=READ_WAIT_MS * 2)
        waiting -= set(got)
        if not got and not waiting:
            break  # every last batch read, and nothing more came
    return {**reported, **{tp: max(consumer.position(tp), end) for tp, end in ends.items()}}
