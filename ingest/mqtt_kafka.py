"""The MQTT → Kafka bridge: paho-mqtt persistent session in, kafka-python producer out.

Readings are gathered into micro-batches per Kafka key (the site; the source topic for dead
letters), bounded by count, bytes and linger; one Kafka record carries one batch as a JSON
array, its timestamp the batch's first arrival. An MQTT message is acknowledged, in arrival
order and with its own QoS, once every record holding its readings is confirmed. A record
Kafka does not take is sent again with capped backoff; the bridge never exits for it.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import select
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from kafka import KafkaProducer
from kafka.errors import KafkaError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.credentials import Credentials
from fjsense.deadletter import DeadLetter
from fjsense.health import Health
from fjsense.registry import registry
from fjsense.sensorkind import Stream
from fjsense.settings import Settings
from fjsense.topics import DeviceClock
from ingest.clocks import ClockEstimator
from ingest.contract import BridgeStats
from ingest.validate import KEPT_BYTES, Checked, Validator

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600  # the broker keeps our queue for a week of downtime
REPORT_SECONDS = 10.0
MIN_RETRY_SECONDS, MAX_RETRY_SECONDS = 0.5, 30.0  # reconnect backoff, doubled per failure
DRAIN_PACKETS = 2000  # MQTT packets read per loop turn before batches are looked at again
REPLACE_PRODUCER_AFTER = 3  # failed resend rounds before the producer is made anew
WAIT_REPORT_SECONDS = 5.0  # how long Kafka may keep a message before the bridge says so


@dataclass
class Batch:
    """Readings bound for one Kafka record, and the MQTT messages they came in."""

    opened: float
    parts: list[bytes] = field(default_factory=list)
    readings: int = 0
    size: int = 0
    tokens: list[int] = field(default_factory=list)
    done: bool = False  # confirmed once; a second send of it confirms nothing more
    queued: bool = False  # waiting to be sent again


class MqttKafkaBridge:
    """Bridges every sensor kind's device topics to Kafka, acknowledging after Kafka confirms.

    paho is driven from one thread (``run``); kafka-python's delivery callbacks only queue the
    confirmed batches' message ids, and ``run`` sends the PUBACKs.
    """

    def __init__(self, settings: Settings, catalog: Catalog, client_id: str | None = None) -> None:
        self.settings = settings
        ingest = settings.ingest
        self.kinds = registry(settings.plugins)
        self.validate = Validator(catalog, self.kinds, settings)
        self.stats = BridgeStats()
        self.health = Health("bridge")
        self.health.probe("stats", lambda: dataclasses.asdict(self.stats))
        self.health.probe("unacknowledged", lambda: len(self._unconfirmed))
        self.linger = ingest.linger_ms / 1000
        self.clocks = ClockEstimator(ingest.clock_window_seconds, ingest.clock_min_samples,
                                     ingest.clock_catch_up_seconds)
        self._next_clock_report = time.monotonic() + ingest.clock_report_seconds
        self._batches: dict[tuple[str, bytes], Batch] = {}
        # per QoS>0 message, by arrival token: [records not yet confirmed, mid, qos, arrival]; tokens,
        # unlike packet ids, are never reused, so a late confirmation cannot ack a newer message
        self._unconfirmed: OrderedDict[int, list[Any]] = OrderedDict()
        self._next_wait_report = 0.0
        self._confirmed: deque[list[int]] = deque()  # tokens of confirmed batches (producer thread)
        self._tokens = itertools.count()
        # batches Kafka did not take, to send again: their messages stay unacknowledged, so
        # the broker's window fills and it queues the rest in our session meanwhile
        self._failed: deque[tuple[str, bytes, Batch, BaseException]] = deque()
        self._resend_at = 0.0
        self._resend_delay = MIN_RETRY_SECONDS
        self._failed_rounds = 0
        self.client_id = client_id or ingest.client_id
        self.producer = self._new_producer()
        login = Credentials(settings).mqtt_service("bridge")
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(login.username, login.password)
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.filters = [f"$share/{ingest.shared_group}/{k.mqtt_filter}" for k in self.kinds.values()]
        self.subscribed = threading.Event()
        self.retry_delay = MIN_RETRY_SECONDS

    def _new_producer(self) -> KafkaProducer:
        ingest = self.settings.ingest
        return KafkaProducer(
            bootstrap_servers=self.settings.kafka.servers,
            client_id=self.client_id,
            acks="all",
            linger_ms=0,  # batching is ours, per key
            compression_type=None if ingest.compression == "none" else ingest.compression,
            max_request_size=max(ingest.batch_bytes * 2, 1024 * 1024),
            retries=10,
            max_block_ms=2000,  # an unreachable Kafka must not stall the MQTT loop for long
        )

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connect refused: %s; retrying in %.1fs", reason, self.retry_delay)
            self.health.waiting("the MQTT broker")
            return
        self.retry_delay = MIN_RETRY_SECONDS
        client.subscribe([(f, self.settings.mqtt.qos) for f in self.filters])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        """From the first SUBACK on, the broker queues device messages for this session."""
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("MQTT subscription refused: %s", failed)
            return
        log.warning("subscribed to %s", ", ".join(self.filters))
        self.subscribed.set()
        self.health.ready()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        received = datetime.fromtimestamp(now, UTC)
        try:
            checked = self.validate(msg.topic, bytes(msg.payload), received)
        except Exception as exc:
            log.exception("could not judge a message on %s", msg.topic)
            checked = Checked(letters=[DeadLetter.of(
                "ingest", f"could not be validated: {type(exc).__name__}: {exc}", msg.topic,
                bytes(msg.payload)[:KEPT_BYTES], received)])
        self.stats.received += 1
        if checked.newest is not None and checked.kind is not None:
            self.clocks.observe(checked.device, checked.kind.name, checked.site,
                                checked.newest.timestamp(), now)
        token = next(self._tokens) if msg.qos > 0 else None
        records = 0
        if checked.count and checked.kind is not None:
            self._add(checked.kind.raw_topic, checked.site.encode(), checked.good,
                      checked.count, token, now)
            self.stats.forwarded += checked.count
            records += 1
        if checked.letters:
            self._add(topics.DEADLETTER, msg.topic.encode(),
                      b",".join(letter.model_dump_json().encode() for letter in checked.letters),
                      len(checked.letters), token, now)
            self.stats.dead_lettered += len(checked.letters)
            records += 1
        if token is not None:
            self._unconfirmed[token] = [records, msg.mid, msg.qos, now]

    def _add(self, topic: str, key: bytes, part: bytes, readings: int, token: int | None,
             now: float) -> None:
        batch = self._batches.get((topic, key))
        if batch is None:
            batch = self._batches[(topic, key)] = Batch(now)
        batch.parts.append(part)
        batch.readings += readings
        batch.size += len(part) + 1
        if token is not None:
            batch.tokens.append(token)
        ingest = self.settings.ingest
        if batch.readings >= ingest.batch_readings or batch.size >= ingest.batch_bytes:
            self._send(topic, key, self._batches.pop((topic, key)))

    def _send(self, topic: str, key: bytes, batch: Batch) -> None:
        try:
            future = self.producer.send(topic, key=key,
                                        value=b"[" + b",".join(batch.parts) + b"]",
                                        timestamp_ms=int(batch.opened * 1000))
        except KafkaError as exc:  # e.g. no metadata within max_block_ms: Kafka is away
            self._on_error(topic, key, batch, exc)
            return
        future.add_callback(lambda _md: self._on_sent(batch))
        future.add_errback(lambda exc: self._on_error(topic, key, batch, exc))

    def _on_sent(self, batch: Batch) -> None:
        if not batch.done:
            batch.done = True
            self._confirmed.append(batch.tokens)

    def _on_error(self, topic: str, key: bytes, batch: Batch, exc: BaseException) -> None:
        if not batch.done and not batch.queued:
            batch.queued = True
            self._failed.append((topic, key, batch, exc))

    def _send_failed_again(self, now: float) -> None:
        """Re-send what Kafka did not take, with capped backoff while it keeps failing."""
        if not self._failed or now < self._resend_at:
            return
        again = []
        while self._failed:
            again.append(self._failed.popleft())
        log.warning("waiting for Kafka (%s); %d records to send again, %d messages "
                    "unacknowledged", again[0][3], len(again), len(self._unconfirmed))
        self.health.waiting("Kafka")
        self._failed_rounds += 1
        if self._failed_rounds % REPLACE_PRODUCER_AFTER == 0:
            # a producer whose broker lost its state (an idempotent producer's id, a
            # memory-only broker restarted) may never recover: start afresh
            log.warning("replacing the Kafka producer after %d failed rounds", self._failed_rounds)
            self.producer.close(timeout=0)
            self.producer = self._new_producer()
        for topic, key, batch, _ in again:
            batch.queued = False
            self._send(topic, key, batch)
        self._resend_at = now + self._resend_delay
        self._resend_delay = min(self._resend_delay * 2, MAX_RETRY_SECONDS)

    def _report_clocks(self) -> None:
        """Send the device clocks heard from since the last report, one record per site. A
        lost report costs nothing: the next one follows."""
        by_site: dict[str, list[DeviceClock]] = {}
        for clock in self.clocks.report(time.time()):
            by_site.setdefault(clock.site, []).append(clock)
        for site, clocks in by_site.items():
            try:
                future = self.producer.send(topics.DEVICE_CLOCK, key=site.encode(),
                                            value=Stream.encode(clocks))
            except KafkaError as exc:
                self._clock_report_lost(exc)
                return
            future.add_errback(self._clock_report_lost)

    @staticmethod
    def _clock_report_lost(exc: BaseException) -> None:
        log.warning("a device-clock report was not sent (%s); the next one follows", exc)

    def _send_due(self, now: float, everything: bool = False) -> None:
        due = [k for k, b in self._batches.items() if everything or now - b.opened >= self.linger]
        for key in due:
            self._send(*key, self._batches.pop(key))

    def _acknowledge_confirmed(self) -> None:
        """PUBACK, in arrival order, every message whose Kafka records are all confirmed."""
        if self._confirmed:  # Kafka takes records again
            self._resend_delay, self._failed_rounds = MIN_RETRY_SECONDS, 0
            if self.subscribed.is_set() and not self._failed:
                self.health.ready()
        while self._confirmed:
            for token in self._confirmed.popleft():
                entry = self._unconfirmed.get(token)
                if entry is not None:
                    entry[0] -= 1
        acked = 0
        while self._unconfirmed:
            records, mid, qos, _ = next(iter(self._unconfirmed.values()))
            if records > 0:
                break
            self._unconfirmed.popitem(last=False)
            self.client.ack(mid, qos)
            acked += 1
        self.stats.acknowledged += acked

    def _report_waiting(self, now: float) -> None:
        """Say so when Kafka has kept messages waiting (the producer retries silently)."""
        if not self._unconfirmed or now < self._next_wait_report:
            return
        oldest = next(iter(self._unconfirmed.values()))[3]
        if now - oldest >= WAIT_REPORT_SECONDS:
            log.warning("waiting for Kafka: %d messages unacknowledged, the oldest for %.0fs",
                        len(self._unconfirmed), now - oldest)
            self.health.waiting("Kafka")
            self._next_wait_report = now + WAIT_REPORT_SECONDS

    def _read_available(self) -> int:
        """paho reads one packet per ``loop()``; read on while the socket has more."""
        sock = self.client.socket()
        rc: int = mqtt.MQTT_ERR_SUCCESS
        for _ in range(DRAIN_PACKETS):
            if sock is None or not select.select([sock], [], [], 0)[0]:
                break
            rc = self.client.loop_read()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
        return rc

    def run(self, stop: threading.Event) -> None:
        """Bridge until ``stop``, then flush Kafka and acknowledge what it confirmed: a stop
        loses nothing."""
        mqtt_settings = self.settings.mqtt
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_SECONDS
        props.ReceiveMaximum = mqtt_settings.receive_maximum
        self.client.connect_async(
            mqtt_settings.host or "127.0.0.1", mqtt_settings.port, keepalive=30,
            clean_start=False, properties=props,
        )
        next_report = time.monotonic() + REPORT_SECONDS
        try:
            self._reconnect()
            while not stop.is_set():
                rc: int = self.client.loop(timeout=min(self.linger / 2, 0.02) or 0.001)
                if rc == mqtt.MQTT_ERR_SUCCESS:
                    rc = self._read_available()
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    self.subscribed.clear()
                    self.health.waiting("the MQTT broker")
                    if stop.wait(self.retry_delay):
                        break
                    self.retry_delay = min(self.retry_delay * 2, MAX_RETRY_SECONDS)
                    self._reconnect()
                    continue
                self._send_due(time.time())
                self._send_failed_again(time.time())
                self._report_waiting(time.time())
                self._acknowledge_confirmed()
                if time.monotonic() >= self._next_clock_report:
                    self._next_clock_report += self.settings.ingest.clock_report_seconds
                    self._report_clocks()
                if time.monotonic() >= next_report:
                    next_report += REPORT_SECONDS
                    log.info("%s; %d messages awaiting Kafka", self.stats, len(self._unconfirmed))
            self._send_due(time.time(), everything=True)
            self.producer.flush(timeout=30)
            self._acknowledge_confirmed()
            self.client.loop(timeout=0.1)
        finally:
            self.client.disconnect()
            self.producer.close(timeout=10)

    def _reconnect(self) -> None:
        """Try once to (re)connect. Unacknowledged messages of a lost connection will be
        redelivered by the broker, so forget them (their batches may still reach Kafka: the
        sink's natural keys absorb the repeat)."""
        self._unconfirmed.clear()
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning("MQTT broker unreachable (%s); retrying in %.1fs", exc, self.retry_delay)
