"""Reading a topic to the end in tests (kafka-python with manual assignment works on Tansu)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from fjsense.settings import Settings


def array_items(record: ConsumerRecord) -> int:
    """What a bridge record holds: a JSON array of readings, or of dead letters."""
    return len(json.loads(record.value))


def read_topic(
    settings: Settings, topic: str, expect: int | None = None, timeout: float = 20.0,
    count: Callable[[ConsumerRecord], int] = lambda record: 1,
) -> list[ConsumerRecord]:
    """Every record of ``topic``; waits until ``expect`` items are there (``count`` says how
    many a record holds: one, or ``array_items`` where the bridge packs them), or ``timeout``."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.servers, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
            if expect is not None and sum(map(count, records)) >= expect:
                break
            if expect is None and not consumer.poll(timeout_ms=300):
                break
        return records
    finally:
        consumer.close()
