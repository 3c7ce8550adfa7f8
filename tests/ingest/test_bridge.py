"""The bridge against real Mosquitto and Tansu: valid readings in, bad ones dead-lettered."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from fjsense import topics
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.deadletter import DeadLetter
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from ingest.mqtt_kafka import MqttKafkaBridge
from fjsense.processes import wait_for
from tests.kafka_read import read_topic

pytestmark = pytest.mark.integration


def device_client(settings: Settings, username: str | None, password: str | None) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if username is not None:
        client.username_pw_set(username, password)
    client.connect("127.0.0.1", settings.mqtt.port)
    client.loop_start()
    return client


@pytest.fixture
def bridge(settings: Settings) -> Iterator[MqttKafkaBridge]:
    ensure_topics(settings)
    bridge = MqttKafkaBridge(settings, load_catalog(), client_id=f"bridge-{settings.database.name}")
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,))
    thread.start()
    assert bridge.subscribed.wait(10)
    yield bridge
    stop.set()
    thread.join(30)


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
    value = json.loads(record.value)
    assert (value["site"], value["device"], value["seq"], value["kwh"]) == (
        "changle-dc1", "changle-dc1-m01", 7, 1234567.8)
    assert datetime.fromisoformat(value["ingest_ts"]) <= datetime.now(UTC)


BAD = [
    (b"{not json", "not UTF-8 JSON"),
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"[1, 2]", "not a JSON object"),
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
    letters = read_topic(settings, topics.DEADLETTER, expect=len(BAD))
    client.loop_stop()
    assert len(letters) == len(BAD)
    decoded = sorted((DeadLetter.decode(r.value) for r in letters), key=lambda d: BAD.index(
        next(b for b in BAD if b[0] == d.payload)))
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
    assert [json.loads(r.value)["device"] for r in received] == ["changle-dc1-m01"]
    assert read_topic(settings, topics.DEADLETTER, timeout=1) == []


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
    circuit = load_catalog().device(device)[1].circuit  # type: ignore[index]
    login = Credentials(settings).device(device)
    client = device_client(settings, login.username, login.password)
    for seq in seqs:
        payload = reading(device, seq, circuit=circuit)
        client.publish(f"fj/power/{site}/{device}", payload, 1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def test_bridge_reconnects_after_a_broker_restart(settings: Settings, servers):
    ensure_topics(settings)
    bridge, stop, thread = run_bridge(settings, f"bridge-r-{settings.database.name}")
    try:
        publish_as_device(settings, "changle-dc1-m01", "changle-dc1", range(0, 3))
        servers.mosquitto.stop()
        servers.mosquitto.start()
        bridge.subscribed.clear()
        assert bridge.subscribed.wait(30), "the bridge did not reconnect"
        publish_as_device(settings, "changle-dc1-m01", "changle-dc1", range(3, 6))
        wait_for(lambda: {json.loads(r.value)["seq"] for r in read_topic(settings, "fj.raw.power")}
                 == set(range(6)), 30, "all six readings in Kafka")
        seqs = [json.loads(r.value)["seq"] for r in read_topic(settings, "fj.raw.power")]
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
        records = read_topic(settings, "fj.raw.power", expect=10)
    finally:
        stop.set()
        thread.join(30)
    assert sorted(json.loads(r.value)["seq"] for r in records) == list(range(10, 20))
    assert bridge.stats.acknowledged == 10
