"""Publishes simulated messages over MQTT, one connection per device with its own login (and
the messages of a device that speaks another protocol over TCP to its kind's gateway
component, one connection per device)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from fjsense.credentials import Credentials
from fjsense.settings import Settings
from simulators.messages import SimMessage


@dataclass
class PublishStats:
    """What was published, so that a test knows exactly which readings must arrive."""

    published: int = 0  # messages
    readings: int = 0  # valid readings sent, repeats included
    valid: set[tuple[str, int]] = field(default_factory=set)  # (device, seq) of valid readings
    malformed: list[bytes] = field(default_factory=list)
    last_event_time: float = 0.0
    replies: int = 0  # lines a gateway answered


class DevicePublisher:
    """QoS 1 publishing as the devices themselves, paced to simulated time.

    A message stamped ``at`` goes out at ``t0 + (at - first) / speed`` on the wall clock, and
    never before ``at`` itself: a replay of the past runs fast, then continues in real time.
    ``speed=0`` publishes as fast as the broker takes it.
    """

    # bounds on how far one device's connection may run ahead of the others: in messages, and
    # in event time (a message may carry many readings, so a count alone is not enough)
    ack_every = 100
    sync_seconds = 60.0

    def __init__(self, settings: Settings, speed: float = 0.0) -> None:
        self.settings = settings
        self.creds = Credentials(settings)
        self.speed = speed
        self.clients: dict[str, mqtt.Client] = {}
        self.sockets: dict[str, socket.socket] = {}  # devices' TCP connections to a gateway
        self.stats = PublishStats()

    def _client(self, device: str) -> mqtt.Client:
        if device not in self.clients:
            login = self.creds.device(device)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-{device}",
                                 protocol=mqtt.MQTTv5)
            client.username_pw_set(login.username, login.password)
            client.max_queued_messages_set(2000)
            client.connect(self.settings.mqtt.host or "127.0.0.1", self.settings.mqtt.port)
            client.loop_start()
            self.clients[device] = client
        return self.clients[device]

    def run(self, messages: Iterable[SimMessage], stop: threading.Event | None = None) -> PublishStats:
        """Publish ``messages`` paced to event time until done or ``stop``; returns what was
        published."""
        t0 = time.time()
        first: float | None = None
        synced = float("-inf")
        pending = []
        for msg in messages:
            if stop is not None and stop.is_set():
                break
            first = msg.at if first is None else first
            if self.speed > 0 and self._wait_until(
                max(t0 + (msg.at - first) / self.speed, msg.at), stop
            ):
                break
            if msg.via is not None:
                self._tcp(msg, msg.via)
            else:
                pending.append(self._client(msg.device).publish(msg.topic, msg.payload, qos=1))
            if len(pending) >= self.ack_every or msg.at - synced >= self.sync_seconds:
                for p in pending:
                    p.wait_for_publish(30)
                pending.clear()
                synced = msg.at
            self.stats.published += 1
            self.stats.last_event_time = max(self.stats.last_event_time, msg.at)
            self.stats.readings += len(msg.seqs)
            if msg.valid:
                self.stats.valid.update((msg.device, seq) for seq in msg.seqs)
            else:
                self.stats.malformed.append(msg.payload)
        for p in pending:
            p.wait_for_publish(30)
        return self.stats

    def _tcp(self, msg: SimMessage, via: str) -> None:
        """A line over the device's own TCP connection to component ``via``, at its
        section's ``host``:``port`` (an empty one drops the connection); the gateway's
        replies are read as they come."""
        conn = self.sockets.get(msg.device)
        if not msg.payload:
            if conn is not None:
                self._hang_up(self.sockets.pop(msg.device))
            return
        if conn is None:
            section = self.settings.section(via)
            host: str = getattr(section, "host")  # noqa: B009
            conn = socket.create_connection(
                ("127.0.0.1" if host in ("0.0.0.0", "") else host,
                 getattr(section, "port")), timeout=30)  # noqa: B009
            conn.setblocking(False)
            self.sockets[msg.device] = conn
        payload = msg.payload if msg.payload.endswith(b"\r\n") else msg.payload + b"\r\n"
        conn.setblocking(True)
        conn.sendall(payload)
        conn.setblocking(False)
        try:
            while reply := conn.recv(65536):
                self.stats.replies += reply.count(b"\r\n")
        except BlockingIOError:
            pass

    def _hang_up(self, conn: socket.socket) -> None:
        """Close as a monitor does: say it is done, read the replies to the end, close (a
        socket closed with replies unread is reset, and the gateway loses what it had not
        read yet)."""
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(30)
            while reply := conn.recv(65536):
                self.stats.replies += reply.count(b"\r\n")
        except OSError:
            pass
        conn.close()

    @staticmethod
    def _wait_until(due: float, stop: threading.Event | None) -> bool:
        """Sleep until wall time ``due``; True when ``stop`` was set meanwhile."""
        delay = due - time.time()
        if delay <= 0:
            return False
        if stop is None:
            time.sleep(delay)
            return False
        return stop.wait(delay)

    def close(self) -> None:
        """Hang up every connection, reading gateways' last replies first."""
        for conn in self.sockets.values():
            self._hang_up(conn)
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()
