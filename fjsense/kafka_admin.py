"""Creates the platform's Kafka topics (idempotently) before any component uses them."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from fjsense.kinds import registry
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
