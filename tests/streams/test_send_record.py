"""The runner hands its records to the Kafka client without giving the event loop away:
faust's ``Topic.send`` yields to it three times per record (mode's stampede guard on
``App.maybe_start_producer``), which kept the worker's agents waiting at 1,000 readings/s
(real Tansu)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import faust
import pytest

from fjsense.settings import Settings
from streams.contiguous import ContiguousTransport
from streams.durable import send_record
from tests.kafka_read import read_topic

pytestmark = pytest.mark.integration

TOPIC, RECORDS = "send.turns", 100
Send = Callable[[faust.App, faust.TopicT, int], Awaitable[object]]


async def loop_turns(settings: Settings, datadir: Path, send: Send) -> int:
    """How many turns the event loop made while ``send`` handed over ``RECORDS`` records."""
    app = faust.App("turns", broker=f"kafka://{settings.kafka.servers}", store="memory://",
                    datadir=str(datadir), web_enabled=False, topic_partitions=1)
    app.transport = ContiguousTransport(app.conf.broker_consumer, app)
    topic = app.topic(TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw")
    await app.producer.start()
    turns, counting = 0, True

    async def count() -> None:
        nonlocal turns
        while counting:
            turns += 1
            await asyncio.sleep(0)
    try:
        await (await send_record(app, topic, b"warm", b"up"))  # the topic's metadata known
        counter = asyncio.ensure_future(count())
        await asyncio.sleep(0)
        before = turns
        for n in range(RECORDS):
            await send(app, topic, n)
        during = turns - before
        counting = False
        await counter
        await app.producer.flush()
        return during
    finally:
        await app.producer.stop()


async def by_runner(app: faust.App, topic: faust.TopicT, n: int) -> object:
    return await send_record(app, topic, b"k", b"%d" % n)


async def by_faust(app: faust.App, topic: faust.TopicT, n: int) -> object:
    return await topic.send(key=b"k", value=b"%d" % n)


def test_the_runner_sends_without_yielding_where_faust_yields_three_times(
        settings: Settings, tmp_path: Path) -> None:
    assert asyncio.run(loop_turns(settings, tmp_path / "a", by_runner)) == 0
    assert asyncio.run(loop_turns(settings, tmp_path / "b", by_faust)) >= 3 * RECORDS
    # both ways sent every record once, each key's in order
    records = read_topic(settings, TOPIC, expect=2 * (RECORDS + 1))
    assert [r.value for r in records if r.key == b"k"] == [b"%d" % n for n in range(RECORDS)] * 2
    assert [r.value for r in records if r.key == b"warm"] == [b"up", b"up"]
