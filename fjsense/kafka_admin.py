"""Creates the platform's Kafka topics (idempotently) before any component uses them."""

from __future__ import annotations

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from fjsense import topics
from fjsense.kinds import registry
from fjsense.settings import Settings


def platform_topics() -> list[str]:
    raw = [kind.raw_topic for kind in registry().values()]
    return [*raw, topics.PUE, topics.ALERTS, topics.DEADLETTER]


def ensure_topics(settings: Settings) -> None:
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers, client_id="fjsense-admin")
    try:
        for name in platform_topics():
            topic = NewTopic(name, settings.kafka.partitions, settings.kafka.replication)
            try:
                admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
