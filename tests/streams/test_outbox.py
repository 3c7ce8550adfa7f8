"""A worker killed after it computed outputs, whose stations then fall silent, sends its
outbox again as soon as it is assigned its partitions (real Tansu, real PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer

from app.processes import Components, wait_for
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from kinds.power.kind import PUE
from kinds.power.simulator import PowerScenario, generate, scenario_sites
from sinks.migrate import bootstrap
from tests.kafka_read import read_topic

pytestmark = pytest.mark.integration


def test_outbox_is_sent_again_on_assignment_without_new_data(settings: Settings,
                                                              tmp_path: Path):
    bootstrap(settings)
    ensure_topics(settings)
    start = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
    scenario = PowerScenario(scenario_sites(load_catalog(), 2), start, timedelta(minutes=20))
    by_site: dict[str, list[bytes]] = defaultdict(list)
    for message in generate(scenario):
        by_site[message.topic.split("/")[2]].append(message.payload)
    parts = Components(settings, tmp_path)
    parts.start("worker")
    parts.start("sink")
    try:
        parts.wait_ready("worker")
        producer = KafkaProducer(bootstrap_servers=settings.kafka.servers)  # as the bridge does
        for site, readings in by_site.items():  # one record per site: then silence
            producer.send("fj.raw.power", key=site.encode(), value=b"[" + b",".join(readings)
                          + b"]")
        producer.flush()
        producer.close()
        with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
            def windows() -> int:
                return conn.execute("SELECT count(*) FROM pue_windows").fetchone()[0]  # type: ignore[index]

            # 20 minutes of 1-minute windows, the last 2 still within the allowed lateness
            wait_for(lambda: windows() == 2 * 18, 60, "the windows of both sites", windows)
            first = read_topic(settings, PUE.topic)
            assert len(first) == 2  # one output record per site, all its windows
            time.sleep(3)  # its changelog and offsets are committed by now
            parts.kill("worker")
            parts.start("worker")
            parts.wait_ready("worker")
            wait_for(lambda: len(read_topic(settings, PUE.topic)) == 4, 30,
                     "the outbox sent again", lambda: parts.log("worker")[-3000:])
            again = read_topic(settings, PUE.topic)
            time.sleep(2)
            stored = windows()
    finally:
        codes = parts.stop_all()
    assert codes == {"worker": 0, "sink": 0}
    assert len(read_topic(settings, PUE.topic)) == 4  # once each, not on every rebalance
    assert sorted(r.value for r in again) == sorted([r.value for r in first] * 2)
    assert sum(len(json.loads(r.value)) for r in first) == 2 * 18
    assert stored == 2 * 18  # the repeat is absorbed by the natural key
    assert "sent 2 outbox records again after assignment" in parts.log("worker")
