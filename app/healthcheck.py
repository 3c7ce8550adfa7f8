"""`fjsense health`: every component (from its own endpoint), every server, consumer lag, and
on the embedded broker its busiest partition.

Exits non-zero when something is wrong: a component down or not ready, a server that does
not answer, a consumer group further behind than ``health.max_lag`` records. A partition
grown past ``health.partition_warn_records`` is a warning with what to do, not a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from app.processes import all_components
from fjsense.health import probe
from fjsense.kafka_ends import READ_WAIT_MS, end_offsets
from fjsense.registry import registry
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from fjsense.stack.service import port_open
from fjsense.topics import topic_names
from sinks.runner import GROUP_ID as SINK_GROUP
from streams.app import APP_ID as WORKER_GROUP

GROUPS = {"worker": WORKER_GROUP, "sink": SINK_GROUP}


@dataclass(frozen=True)
class Check:
    what: str  # component, server or lag
    name: str
    ok: bool
    state: str
    detail: dict[str, Any]


def component_checks(settings: Settings, names: tuple[str, ...] | None = None) -> list[Check]:
    """Each component's own report (default: every one, and the supervisor, which only
    counts when it answers)."""
    checks = []
    everything = names is None
    for name in ("run", *all_components(registry(settings.plugins))) if names is None else names:
        report = probe(settings.health.host, settings.health_port(name))
        if report is None:
            if name == "run" and everything:
                continue  # components run on their own (containers), not under `fjsense run`
            checks.append(Check("component", name, False, "down", {
                "endpoint": f"{settings.health.host}:{settings.health_port(name)}"}))
            continue
        state = report.pop("state")
        waiting = report.pop("waiting_for")
        if waiting:
            report["waiting for"] = waiting
        report.pop("component", None)
        checks.append(Check("component", name, state == "ready", state, report))
    return checks


def _host_port(where: str) -> tuple[str, int]:
    host, _, port = where.split(",")[0].rpartition(":")
    return host, int(port)


def server_checks(settings: Settings) -> list[Check]:
    checks = []
    for row in LocalStack(settings).status():
        host, port = _host_port(row.where)
        up = port_open(port, host) if row.external else row.healthy
        checks.append(Check("server", row.name, up, "up" if up else "down",
                            {"where": row.where, "external": row.external}))
    return checks


def lag_checks(settings: Settings) -> list[Check]:
    """Records each consumer group has yet to commit, by topic (end offset − committed)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers,
                                 client_id="fjsense-health", request_timeout_ms=5000)
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka.servers,
                                 request_timeout_ms=5000, enable_auto_commit=False,
                                 fetch_max_wait_ms=READ_WAIT_MS)
    except KafkaError as exc:
        return [Check("lag", group, False, "unknown", {"error": str(exc)})
                for group in GROUPS.values()]
    checks = []
    try:
        for component, group in GROUPS.items():
            try:
                committed = admin.list_group_offsets({group: None})[group]
                ends = end_offsets(settings, consumer, list(committed)) if committed else {}
            except KafkaError as exc:
                checks.append(Check("lag", component, False, "unknown", {"error": str(exc)}))
                continue
            by_topic: dict[str, int] = {}
            for tp, meta in committed.items():
                by_topic[tp.topic] = by_topic.get(tp.topic, 0) + max(ends[tp] - meta.offset, 0)
            total = sum(by_topic.values())
            ok = total <= settings.health.max_lag
            checks.append(Check("lag", component, ok, f"{total} records",
                                {"group": group, "by_topic": by_topic}))
    finally:
        consumer.close()
        admin.close()
    return checks


STARVING_ADVICE = (
    "the embedded broker keeps every record and lists a partition's batches on each fetch, so "
    "its fetches slow down and then come back empty as partitions grow: once the sink has "
    "caught up (lag 0), restart the stack with an empty broker (`fjsense down`, `fjsense up`; "
    "stored rows stay in PostgreSQL), or run Apache Kafka (`kafka.bootstrap`)")


def partition_checks(settings: Settings) -> list[Check]:
    """On the embedded broker, its busiest partition, with a warning (not a failure) once it
    holds ``health.partition_warn_records``: before its tail fetches starve."""
    if settings.kafka.external:
        return []  # Apache Kafka's fetches do not grow with the log
    try:
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka.servers,
                                 request_timeout_ms=5000, enable_auto_commit=False,
                                 fetch_max_wait_ms=READ_WAIT_MS)
    except KafkaError as exc:
        return [Check("partitions", "kafka", True, "unknown", {"error": str(exc)})]
    try:
        parts = [TopicPartition(topic, p) for topic in topic_names(registry(settings.plugins))
                 for p in consumer.partitions_for_topic(topic) or ()]
        ends = end_offsets(settings, consumer, parts) if parts else {}
    except KafkaError as exc:
        return [Check("partitions", "kafka", True, "unknown", {"error": str(exc)})]
    finally:
        consumer.close()
    if not ends:
        return [Check("partitions", "kafka", True, "ok", {"busiest": None})]
    tp, records = max(ends.items(), key=lambda item: item[1])
    detail: dict[str, Any] = {"busiest": f"{tp.topic}[{tp.partition}]", "records": records,
                              "warn_at": settings.health.partition_warn_records}
    if records < settings.health.partition_warn_records:
        return [Check("partitions", "kafka", True, "ok", detail)]
    return [Check("partitions", "kafka", True, "warning", {**detail, "advice": STARVING_ADVICE})]


def health_checks(settings: Settings, component: str | None = None) -> list[Check]:
    """Everything, or only ``component``'s own endpoint (for a container healthcheck)."""
    if component is not None:
        return component_checks(settings, (component,))
    return (component_checks(settings) + server_checks(settings) + lag_checks(settings)
            + partition_checks(settings))


LISTED = 4  # a list or mapping of at most this many entries is shown whole in the table


def brief(value: Any) -> str:
    """A detail as the table shows it: short values whole, long lists and mappings counted
    (a worker holds 100+ partitions; ``--json`` lists them all)."""
    if not isinstance(value, list | tuple | dict) or len(value) <= LISTED:
        return json.dumps(value, default=str)
    if isinstance(value, dict):
        pairs = [v for v in value.values() if isinstance(v, list | tuple) and len(v) == 2]
        if len(pairs) == len(value):  # partition: (offset taken, end)
            behind = sum(1 for taken, end in pairs
                         if taken is not None and end is not None and end > taken + 1)
            return f"{len(value)} partitions, {behind} behind"
        return f"{len(value)} entries"
    return f"{len(value)} items"
