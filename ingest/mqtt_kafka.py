"""The MQTT → Kafka bridge: paho-mqtt persistent session in, kafka-python producer out."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
from kafka import KafkaProducer
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fjsense import topics
from fjsense.catalog import Catalog
from fjsense.credentials import Credentials
from fjsense.deadletter import DeadLetter
from fjsense.kinds import registry
from fjsense.settings import Settings
from ingest.contract import BridgeStats
from ingest.validate import Accepted, validate

log = logging.getLogger(__name__)

SESSION_EXPIRY_SECONDS = 7 * 24 * 3600  # the broker keeps our queue for a week of downtime
REPORT_SECONDS = 10.0
MIN_RETRY_SECONDS, MAX_RETRY_SECONDS = 0.5, 30.0  # reconnect backoff, doubled per failure


class KafkaUnavailable(RuntimeError):
    """Kafka refused a record for good; the bridge stops without acknowledging it."""


class MqttKafkaBridge:
    """Bridges every sensor kind's device topics to Kafka, acknowledging after Kafka confirms.

    paho is driven from one thread (``run``); kafka-python's delivery callbacks only mark a
    message done, and ``run`` sends the PUBACKs in the order the messages arrived.
    """

    def __init__(
        self, settings: Settings, catalog: Catalog, client_id: str = "fjsense-bridge"
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.kinds = registry()
        self.stats = BridgeStats()
        self._pending: OrderedDict[int, bool] = OrderedDict()
        self._lock = threading.Lock()
        self._failure: BaseException | None = None
        self.producer = KafkaProducer(
            bootstrap_servers=settings.kafka.servers,
            client_id=client_id,
            acks="all",
            linger_ms=settings.ingest.linger_ms,
            batch_size=settings.ingest.batch_size,
            retries=10,
        )
        login = Credentials(settings).mqtt_service("bridge")
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(login.username, login.password)
        self.client.manual_ack_set(True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.subscribed = threading.Event()
        self.retry_delay = MIN_RETRY_SECONDS

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            log.error("MQTT connect refused: %s; retrying in %.1fs", reason, self.retry_delay)
            return
        self.retry_delay = MIN_RETRY_SECONDS
        client.subscribe([(k.mqtt_filter, self.settings.mqtt.qos) for k in self.kinds.values()])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        """From the first SUBACK on, the broker queues device messages for this session."""
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("MQTT subscription refused: %s", failed)
            return
        log.warning("subscribed to %s", ", ".join(k.mqtt_filter for k in self.kinds.values()))
        self.subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = datetime.now(UTC)
        payload = bytes(msg.payload)
        self.stats.received += 1
        result = validate(
            msg.topic, payload, self.catalog, self.kinds, now,
            timedelta(seconds=self.settings.ingest.max_future_seconds),
        )
        if isinstance(result, Accepted):
            topic, key, value = result.kind.raw_topic, result.site.encode(), result.encode()
            self.stats.forwarded += 1
        else:
            letter = DeadLetter("ingest", result.reason, msg.topic, payload, now)
            topic, key, value = topics.DEADLETTER, msg.topic.encode(), letter.encode()
            self.stats.dead_lettered += 1
        track = msg.qos > 0
        if track:
            with self._lock:
                self._pending[msg.mid] = False
        future = self.producer.send(topic, key=key, value=value)
        if track:
            future.add_callback(lambda _md, mid=msg.mid: self._confirmed(mid))
        future.add_errback(self._failed)

    def _confirmed(self, mid: int) -> None:
        with self._lock:
            if mid in self._pending:
                self._pending[mid] = True

    def _failed(self, exc: BaseException) -> None:
        log.error("Kafka did not take a record: %s", exc)
        self._failure = exc

    def _acknowledge_confirmed(self) -> None:
        """PUBACK, in arrival order, every message whose Kafka record is confirmed."""
        done: list[int] = []
        with self._lock:
            for mid, confirmed in list(self._pending.items()):
                if not confirmed:
                    break
                del self._pending[mid]
                done.append(mid)
        for mid in done:
            self.client.ack(mid, self.settings.mqtt.qos)
        self.stats.acknowledged += len(done)

    def run(self, stop: threading.Event) -> None:
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
                if self.client.loop(timeout=0.02) != mqtt.MQTT_ERR_SUCCESS:
                    if stop.wait(self.retry_delay):
                        break
                    self.retry_delay = min(self.retry_delay * 2, MAX_RETRY_SECONDS)
                    self._reconnect()
                    continue
                if self._failure is not None:
                    raise KafkaUnavailable(str(self._failure))
                self._acknowledge_confirmed()
                if time.monotonic() >= next_report:
                    next_report += REPORT_SECONDS
                    log.info("%s; %d awaiting Kafka", self.stats, len(self._pending))
            self.producer.flush(timeout=30)
            self._acknowledge_confirmed()
            self.client.loop(timeout=0.1)
        finally:
            self.client.disconnect()
            self.producer.close(timeout=10)

    def _reconnect(self) -> None:
        """Try once to (re)connect. Unacknowledged messages of a lost connection will be
        redelivered by the broker, so forget them."""
        with self._lock:
            self._pending.clear()
        try:
            self.client.reconnect()
        except OSError as exc:
            log.warning("MQTT broker unreachable (%s); retrying in %.1fs", exc, self.retry_delay)
