"""Creates the platform's Kafka topics (idempotently) before any component uses them."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from fjsense.registry import registry
from fjsense.settings import Settings
from fjsense.topics import topic_names


def ensure_topics(settings: Settings) -> None:
    """Every kind's raw and derived topics and the platform's own."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers, client_id="fjsense-admin")
    try:
        for name in topic_names(registry(settings.plugins)):
            topic = NewTopic(name, settings.kafka.partitions, settings.kafka.replication)
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


# Tansu 0.6, the embedded broker, keeps a partition's high watermark at the base offset of its
# last *batch* plus one. Records after the first of a multi-record batch are then beyond it:
# ListOffsets under-reports (faust recovers only part of a changelog), and a consumer whose
# committed offset falls inside such a batch is served nothing more, ever. Producers to the
# embedded broker therefore send batches of one record (a limit in bytes that every record
# exceeds). Apache Kafka needs none of this: there the clients' own defaults apply.
TANSU_ONE_RECORD_PER_BATCH = 1
KAFKA_BATCH_BYTES = 16384  # the clients' default


def producer_batch_bytes(settings: Settings) -> int:
    """The producer batch size (bytes) for the configured broker."""
    return KAFKA_BATCH_BYTES if settings.kafka.external else TANSU_ONE_RECORD_PER_BATCH


# Tansu also holds a fetch that found nothing for its whole wait, even when records arrive
# meanwhile (measured: up to 257 ms of a 500 ms wait, 31 ms of a 50 ms one), so a caught-up
# consumer of the embedded broker asks for short waits.
TANSU_FETCH_WAIT_MS = 50
KAFKA_FETCH_WAIT_MS = 500  # the clients' default


def consumer_fetch_wait_ms(settings: Settings) -> int:
    """The longest a fetch may wait for records, for the configured broker."""
    return KAFKA_FETCH_WAIT_MS if settings.kafka.external else TANSU_FETCH_WAIT_MS
