"""The bridge against real Mosquitto and Tansu: valid readings in, bad ones dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from app.processes import Components, wait_for
from fjsense import topics
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.deadletter import DeadLetter
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from fjsense.stack.servers import Tansu
from ingest.mqtt_kafka import MqttKafkaBridge
from tests.kafka_read import array_items, read_topic

pytestmark = pytest.mark.integration


def device_client(settings: Settings, username: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", settings.mqtt.port)
    client.loop_start()
    return client


@contextmanager
def running_bridge(settings: Settings) -> Iterator[MqttKafkaBridge]:
    ensure_topics(settings)
    bridge = MqttKafkaBridge(settings, load_catalog(), client_id=f"bridge-{settings.database.name}")
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,))
    thread.start()
    try:
        assert bridge.subscribed.wait(10)
        yield bridge
    finally:
        stop.set()
        thread.join(30)


@pytest.fixture
def bridge(settings: Settings) -> Iterator[MqttKafkaBridge]:
    with running_bridge(settings) as running:
        yield running


def reading(device: str, seq: int, **overrides: object) -> bytes:
    body = {"device": device, "seq": seq, "ts": datetime.now(UTC).isoformat(),
            "circuit": "facility", "kw": 812.4, "kwh": 1234567.8}
    body.update(overrides)
    return json.dumps(body).encode()


def test_valid_reading_reaches_raw_topic_keyed_by_site(settings: Settings, bridge: MqttKafkaBridge):
    login = Credentials(settings).device("changle-dc1-m01")
    client = device_client(settings, login.username, login.password)
    info = client.publish("fj/power/changle-dc1/changle-dc1-m01", reading("changle-dc1-m01", 7), 1)
    info.wait_for_publish(5)
    [record] = read_topic(settings, "fj.raw.power", expect=1)
    client.loop_stop()
    assert record.key == b"changle-dc1"
    [value] = json.loads(record.value)
    assert (value["device"], value["seq"], value["kwh"]) == ("changle-dc1-m01", 7, 1234567.8)
    assert 0 < time.time() - record.timestamp / 1000 < 10  # the record's time: ingest time


def test_an_array_is_judged_reading_by_reading(settings: Settings, bridge: MqttKafkaBridge):
    login = Credentials(settings).device("changle-dc1-m01")
    client = device_client(settings, login.username, login.password)
    good = [json.loads(reading("changle-dc1-m01", seq)) for seq in (1, 2, 4)]
    bad = {**json.loads(reading("changle-dc1-m01", 3)), "kw": -1}
    payload = json.dumps([good[0], good[1], bad, good[2]]).encode()
    client.publish("fj/power/changle-dc1/changle-dc1-m01", payload, 1).wait_for_publish(5)
    [record] = read_topic(settings, "fj.raw.power", expect=1)
    [letter] = [DeadLetter.model_validate_json(json.dumps(x))
                for r in read_topic(settings, topics.DEADLETTER, expect=1)
                for x in json.loads(r.value)]
    client.loop_stop()
    assert [r["seq"] for r in json.loads(record.value)] == [1, 2, 4]
    assert letter.reason.startswith("reading [2]: schema: kw") and json.loads(letter.payload) == bad
    assert (bridge.stats.forwarded, bridge.stats.dead_lettered) == (3, 1)


def test_readings_of_many_messages_share_one_record_per_site(settings: Settings):
    ensure_topics(settings)
    slow = settings.model_copy(update={"ingest": settings.ingest.model_copy(
        update={"linger_ms": 1000, "batch_readings": 25})})
    bridge, stop, thread = run_bridge(slow, f"bridge-b-{settings.database.name}")
    try:
        publish_as_device(settings, "anxi-dc1-m01", "anxi-dc1", range(60))
        records = read_topic(settings, "fj.raw.power", expect=3)
    finally:
        stop.set()
        thread.join(30)
    assert [len(json.loads(r.value)) for r in records] == [25, 25, 10]  # by count, then linger
    assert [x["seq"] for r in records for x in json.loads(r.value)] == list(range(60))
    assert bridge.stats.acknowledged == 60


BAD = [
    (b"{not json", "not UTF-8 JSON"),
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"7", "not a JSON object"),
    (b" [ ] ", "empty array: no readings"),
    (reading("changle-dc1-m01", 1, kw=-5), "schema: kw"),
    (reading("changle-dc1-m01", 1, kwh="lots"), "schema: kwh"),
    (reading("changle-dc1-m01", 2, extra=1), "schema: extra"),
    (reading("changle-dc1-m01", 3, kw=99999), "impossible value: kw 99999"),
    (reading("changle-dc1-m01", 4, circuit="it"), "impossible value: circuit"),
    (reading("changle-dc1-m01", 5, ts=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
     "in the future"),
    (reading("changle-dc1-m01", 6, ts="2026-11-22T09:00:00"), "schema: ts"),
    (reading("anxi-dc1-m01", 8), "published under"),
]


def test_every_bad_message_is_dead_lettered_with_its_reason(
    settings: Settings, bridge: MqttKafkaBridge
):
    login = Credentials(settings).device("changle-dc1-m01")
    client = device_client(settings, login.username, login.password)
    for payload, _ in BAD:
        client.publish("fj/power/changle-dc1/changle-dc1-m01", payload, 1).wait_for_publish(5)
    letters = [DeadLetter.model_validate_json(json.dumps(x)) for r in
               read_topic(settings, topics.DEADLETTER, expect=len(BAD), count=array_items) for x in json.loads(r.value)]
    client.loop_stop()
    assert len(letters) == len(BAD)
    decoded = sorted(letters, key=lambda d: BAD.index(next(b for b in BAD if b[0] == d.payload)))
    for letter, (payload, reason) in zip(decoded, BAD, strict=True):
        assert letter.payload == payload
        assert reason in letter.reason, letter.reason
        assert letter.stage == "ingest"
        assert letter.source == "fj/power/changle-dc1/changle-dc1-m01"
    assert read_topic(settings, "fj.raw.power", timeout=1) == []
    assert bridge.stats.dead_lettered == len(BAD)


def test_device_cannot_publish_under_another_devices_topic(
    settings: Settings, bridge: MqttKafkaBridge
):
    login = Credentials(settings).device("changle-dc1-m01")
    client = device_client(settings, login.username, login.password)
    info = client.publish("fj/power/anxi-dc1/anxi-dc1-m01", reading("anxi-dc1-m01", 1), 1)
    info.wait_for_publish(5)
    ok = client.publish("fj/power/changle-dc1/changle-dc1-m01", reading("changle-dc1-m01", 2), 1)
    ok.wait_for_publish(5)
    received = read_topic(settings, "fj.raw.power", expect=1)
    client.loop_stop()
    assert [x["device"] for r in received for x in json.loads(r.value)] == ["changle-dc1-m01"]
    assert read_topic(settings, topics.DEADLETTER, timeout=1) == []


def test_a_clock_far_ahead_is_refused_and_still_estimated(settings: Settings):
    fast = Settings(**{**settings.model_dump(), "ingest": {
        **settings.ingest.model_dump(), "clock_report_seconds": 0.2}})
    login = Credentials(settings).device("changle-dc1-m01")
    with running_bridge(fast):
        client = device_client(settings, login.username, login.password)
        for seq in range(3):  # ten minutes ahead: beyond ingest.max_future_seconds (300)
            client.publish("fj/power/changle-dc1/changle-dc1-m01", json.dumps([
                json.loads(reading("changle-dc1-m01", seq * 2, ts=(
                    datetime.now(UTC) + timedelta(seconds=600 - 60)).isoformat())),
                json.loads(reading("changle-dc1-m01", seq * 2 + 1, ts=(
                    datetime.now(UTC) + timedelta(seconds=600)).isoformat()))]), 1
            ).wait_for_publish(5)
        clocks = [x for r in read_topic(settings, topics.DEVICE_CLOCK, expect=1,
                                        count=array_items) for x in json.loads(r.value)]
        client.loop_stop()
    assert [(c["device"], c["kind"], c["site"], c["samples"]) for c in clocks[-1:]] == [
        ("changle-dc1-m01", "power", "changle-dc1", 3)]
    assert 598 < clocks[-1]["offset_s"] <= 600.0  # the newest reading of the least queued
    letters = read_topic(settings, topics.DEADLETTER, expect=6, count=array_items)
    assert sum(len(json.loads(r.value)) for r in letters) == 6
    assert read_topic(settings, "fj.raw.power", timeout=1) == []


@pytest.mark.parametrize("login", [None, ("changle-dc1-m01", "wrong-password"), ("intruder", "x")])
def test_broker_refuses_clients_without_valid_credentials(settings: Settings, login):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    refused = threading.Event()
    client.on_connect = lambda *a: refused.set() if a[3].is_failure else None
    if login is not None:
        client.username_pw_set(*login)
    client.connect("127.0.0.1", settings.mqtt.port)
    client.loop_start()
    try:
        assert refused.wait(5)
        assert not client.is_connected()
    finally:
        client.loop_stop()


def run_bridge(settings: Settings, client_id: str) -> tuple[MqttKafkaBridge, threading.Event, threading.Thread]:
    bridge = MqttKafkaBridge(settings, load_catalog(), client_id=client_id)
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,))
    thread.start()
    assert bridge.subscribed.wait(10)
    return bridge, stop, thread


def publish_as_device(settings: Settings, device: str, site: str, seqs: range) -> None:
    circuit = load_catalog().device(device)[1].spec.circuit  # type: ignore[index]
    login = Credentials(settings).device(device)
    client = device_client(settings, login.username, login.password)
    for seq in seqs:
        payload = reading(device, seq, circuit=circuit)
        client.publish(f"fj/power/{site}/{device}", payload, 1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def seqs_in(settings: Settings) -> list[int]:
    """The seq of every reading on the raw power topic, in record order."""
    return [x["seq"] for r in read_topic(settings, "fj.raw.power") for x in json.loads(r.value)]


def test_bridge_reconnects_after_a_broker_restart(settings: Settings, servers):
    ensure_topics(settings)
    bridge, stop, thread = run_bridge(settings, f"bridge-r-{settings.database.name}")
    try:
        publish_as_device(settings, "changle-dc1-m01", "changle-dc1", range(3))
        servers.mosquitto.stop()
        servers.mosquitto.start()
        bridge.subscribed.clear()
        assert bridge.subscribed.wait(30), "the bridge did not reconnect"
        publish_as_device(settings, "changle-dc1-m01", "changle-dc1", range(3, 6))
        wait_for(lambda: set(seqs_in(settings)) == set(range(6)), 30, "all six readings in Kafka")
        seqs = seqs_in(settings)
    finally:
        stop.set()
        thread.join(30)
    # at least once: what was unacknowledged when the broker went down comes again
    # (the sink's natural key absorbs it); nothing published after the restart repeats
    assert set(seqs) == set(range(6)) and sorted(seqs[-3:]) == [3, 4, 5]


def test_readings_published_while_the_bridge_is_down_wait_in_its_session(
    settings: Settings, servers
):
    ensure_topics(settings)
    client_id = f"bridge-p-{settings.database.name}"
    _, stop, thread = run_bridge(settings, client_id)
    stop.set()
    thread.join(30)
    publish_as_device(settings, "anxi-dc1-m02", "anxi-dc1", range(10, 20))
    servers.mosquitto.stop()  # the broker persists the queued session on the way down
    servers.mosquitto.start()
    bridge, stop, thread = run_bridge(settings, client_id)
    try:
        records = read_topic(settings, "fj.raw.power", expect=10, count=array_items)
    finally:
        stop.set()
        thread.join(30)
    assert sorted(x["seq"] for r in records for x in json.loads(r.value)) == list(range(10, 20))
    assert bridge.stats.acknowledged == 10


def test_the_bridge_waits_out_kafka_and_delivers_what_came_meanwhile(
    settings: Settings, kafka_server: Tansu, tmp_path: Path
):
    ensure_topics(settings)
    parts = Components(settings, tmp_path)  # its own process, as in production
    parts.start("bridge")
    try:
        parts.wait_ready("bridge")
        publish_as_device(settings, "xiamen-dc1-m02", "xiamen-dc1", range(3))
        wait_for(lambda: sorted(seqs_in(settings)) == [0, 1, 2], 20, "the first readings")
        kafka_server.stop()  # memory-only: what was in Kafka is gone with it
        publish_as_device(settings, "xiamen-dc1-m02", "xiamen-dc1", range(3, 10))
        wait_for(lambda: (parts.health("bridge") or {}).get("waiting_for") == "Kafka", 30,
                 "the bridge to say it waits for Kafka", lambda: parts.health("bridge"))
        time.sleep(30)
        assert parts.procs["bridge"].poll() is None
        kafka_server.start()
        ensure_topics(settings)  # as the stack does after a restart
        parts.wait_ready("bridge")  # it says so itself once Kafka takes records again
        wait_for(lambda: set(seqs_in(settings)) == set(range(3, 10)), 60,
                 "the readings sent while Kafka was down", lambda: seqs_in(settings))
        time.sleep(2)  # anything sent twice would be there by now
    finally:
        codes = parts.stop_all()
    assert codes == {"bridge": 0}
    assert sorted(seqs_in(settings)) == list(range(3, 10))  # each once


def test_no_payload_stops_the_bridge(settings: Settings, bridge: MqttKafkaBridge):
    """Regressions found by fuzzing: a deeply nested array crashed the bridge (RecursionError
    in the slow path), and a 1 MB payload made a dead letter too large for a Kafka record."""
    login = Credentials(settings).device("changle-dc1-m01")
    client = device_client(settings, login.username, login.password)
    topic = "fj/power/changle-dc1/changle-dc1-m01"
    deep, huge = b"[" * 20000 + b"]" * 20000, b'{"pad": "' + b"x" * 1_048_576 + b'"}'
    for payload in (deep, huge, reading("changle-dc1-m01", 77)):
        client.publish(topic, payload, 1).wait_for_publish(10)
    [good] = read_topic(settings, "fj.raw.power", expect=1)
    letters = [DeadLetter.model_validate_json(json.dumps(x))
               for r in read_topic(settings, topics.DEADLETTER, expect=2, count=array_items) for x in json.loads(r.value)]
    client.loop_stop()
    assert [x["seq"] for x in json.loads(good.value)] == [77]
    reasons = sorted(letter.reason for letter in letters)
    assert reasons[0].startswith("payload is not UTF-8 JSON") and "recursion" in reasons[0]
    assert reasons[1].startswith(f"payload of {len(huge)} bytes is larger than ingest.max_message")
    assert len(next(x for x in letters if x.reason == reasons[1]).payload) == 64 * 1024
