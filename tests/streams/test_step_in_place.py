"""The runner steps a typed state in place (no copy per record) and keeps the state it
remembers in step with the entry the table holds, through a failing batch (real Tansu): the
batch's reading at fault is dead-lettered, its good readings count once, and the failed
attempt's marks on the state are gone."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from types import SimpleNamespace

import faust
import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from fjsense.settings import Settings
from fjsense.topics import DEADLETTER
from streams.durable import DurableRunner
from tests.kafka_read import read_topic
from tests.streams.test_durable import SOURCE, TypedSummer, record

pytestmark = pytest.mark.integration


def event(offset: int, *temps: float) -> SimpleNamespace:
    """A Kafka record of the source as the agent's stream hands it to ``take``."""
    return SimpleNamespace(key=b"lab", value=record(*temps), message=SimpleNamespace(
        partition=0, offset=offset, timestamp=1.8e9 + offset))


async def take_three(settings: Settings, datadir: Path) -> tuple[list[float], float, int, int]:
    """Three records, the second with a fault; per record the entry's total, then the
    remembered state's total, the loads and the copies."""
    app = faust.App("in-place", broker=f"kafka://{settings.kafka.servers}", store="memory://",
                    datadir=str(datadir), web_enabled=False, topic_partitions=1)
    processor = TypedSummer()
    runner = DurableRunner(app, processor, SOURCE, partitions=1)
    await app.producer.start()
    totals = []
    try:
        for ev in (event(0, 20.0), event(1, 5.0, -99.0, 7.0), event(2, 1.0)):
            await runner.take(ev)  # type: ignore[arg-type]
            totals.append(runner.table.data["lab"]["state"]["total"])
        await app.producer.flush()
    finally:
        await app.producer.stop()
    stored, state = runner.loaded["lab"]
    assert stored is runner.table.data["lab"]
    return totals, state.total, processor.loads, processor.copies


def test_a_typed_state_is_stepped_in_place_and_a_failed_batch_leaves_no_mark(
        settings: Settings, tmp_path: Path):
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers)
    admin.create_topics([NewTopic("in-place-typed-summer-state-changelog", 1, 1),
                         NewTopic(DEADLETTER, 1, 1)])
    admin.close()
    totals, remembered, loads, copies = asyncio.run(take_three(settings, tmp_path))
    # 20, then 20 + 5 + 7 (not 20 + 5 - 99), then + 1
    assert totals == [20.0, 32.0, 33.0] and remembered == 33.0
    # loaded for the first record and again after the failed attempt; copied only to retry
    # the failed batch reading by reading (three readings)
    assert (loads, copies) == (2, 3)
    [letter] = read_topic(settings, DEADLETTER, expect=1)
    [dead] = json.loads(letter.value)
    assert json.loads(base64.b64decode(dead["payload_b64"]))["temp_c"] == -99.0
    changelog = [json.loads(r.value)["state"]["total"] for r in read_topic(
        settings, "in-place-typed-summer-state-changelog", expect=3)]
    assert changelog == [20.0, 32.0, 33.0]
