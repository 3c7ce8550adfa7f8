"""``fjsense hj212``: the TCP gateway of HJ 212-2017 monitors into MQTT.

Each connection is read as a stream of ``\\r\\n``-ended packets. A packet is checked (length,
CRC, data segment, MN in the catalog, PW the point's secret, a data command with a DataTime)
and, when accepted, published QoS 1 on ``fj/pollution/{site}/{mn}`` with the gateway's own MQTT
login (it may write only there); the data reply (CN=9014) it asked for goes back once the
broker has it. A refused packet is dead-lettered with its reason and the connection stays
open; a line longer than ``hj212.max_line_bytes`` is dropped up to its ``\\r\\n``; a
connection silent for ``hj212.idle_seconds`` (a half-open socket) is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from kafka import KafkaProducer

from fjsense import topics
from fjsense.catalog import Catalog, catalog_of
from fjsense.credentials import Credentials
from fjsense.deadletter import DeadLetter
from fjsense.health import Health, HealthServer
from fjsense.settings import Settings
from kinds.pollution.hj212 import DATA_COMMANDS, Packet, PacketError, parse, reply
from kinds.pollution.kind import GATEWAY, KIND, GatewaySettings

log = logging.getLogger(__name__)
KEPT_BYTES = 1024  # of a refused over-long line, what its dead letter keeps


@dataclass
class GatewayStats:
    connections: int = 0
    packets: int = 0
    published: int = 0
    refused: int = 0
    replies: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def reading_of(packet: Packet) -> dict:
    """The wire reading of an accepted data packet (times in UTC)."""
    at = packet.data_time
    assert at is not None
    qn = packet.fields.get("QN")
    seq = int(qn) if qn and qn.isdigit() else int(packet.cp["DataTime"] + packet.cn)
    values = {}
    for code, factor in packet.factors.items():
        got = factor.values
        values[code] = {k: v for k, v in (
            ("value", got.get("Rtd", got.get("Avg"))), ("flag", factor.flag),
            ("min", got.get("Min")), ("max", got.get("Max")), ("cou", got.get("Cou")))
            if v is not None}
    return {"device": packet.mn, "seq": seq, "ts": at.isoformat().replace("+00:00", "Z"),
            "cn": packet.cn, **({"qn": qn} if qn else {}), "values": values}


class Gateway:
    def __init__(self, settings: Settings, health: Health | None = None,
                 catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.config: GatewaySettings = settings.section(GATEWAY)  # type: ignore[assignment]
        self.catalog = catalog or catalog_of(settings)
        self.creds = Credentials(settings)
        self.health = health
        self.stats = GatewayStats()
        login = self.creds.mqtt_service(GATEWAY)
        self.mqtt = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                client_id=f"fjsense-hj212-{secrets.token_hex(3)}",
                                protocol=mqtt.MQTTv5)
        self.mqtt.username_pw_set(login.username, login.password)
        self.mqtt.max_inflight_messages_set(200)
        self.kafka = KafkaProducer(bootstrap_servers=settings.kafka.servers, acks="all",
                                   linger_ms=5)
        if health is not None:
            health.probe("stats", lambda: vars(self.stats))

    def check(self, packet: Packet) -> str:
        """The site of an acceptable packet; PacketError why not."""
        found = self.catalog.device(packet.mn)
        if found is None or found[1].kind != KIND.name:
            raise PacketError(f"unknown MN {packet.mn!r}: not a monitoring point of the catalog")
        if not secrets.compare_digest(packet.fields["PW"].encode(),
                                      self.creds.device(packet.mn).password.encode()):
            raise PacketError(f"wrong PW for MN {packet.mn}")
        if packet.cn not in DATA_COMMANDS:
            raise PacketError(f"CN {packet.cn} is not a data upload the platform takes "
                              f"({', '.join(DATA_COMMANDS)})")
        if packet.data_time is None:
            raise PacketError("data packet has no DataTime")
        return found[0].id

    def refuse(self, peer: str, line: bytes, reason: str) -> None:
        self.stats.refused += 1
        key = reason.split(":")[0].split(" ")[0]
        self.stats.reasons[key] = self.stats.reasons.get(key, 0) + 1
        letter = DeadLetter.of(GATEWAY, reason, f"tcp://{peer}", line[:KEPT_BYTES] if len(
            line) > self.config.max_line_bytes else line, datetime.now(UTC))
        self.kafka.send(topics.DEADLETTER, key=f"tcp://{peer}".encode(),
                        value=b"[" + letter.model_dump_json().encode() + b"]")
        log.warning("refused a packet from %s: %s", peer, reason)

    async def publish(self, site: str, packet: Packet) -> None:
        body = json.dumps(reading_of(packet)).encode()
        info = self.mqtt.publish(KIND.mqtt_topic(site, packet.mn), body, qos=1)
        await asyncio.to_thread(info.wait_for_publish, 30)
        if not info.is_published():
            raise ConnectionError("the MQTT broker did not take the packet")
        self.stats.published += 1

    async def handle(self, line: bytes, peer: str, writer: asyncio.StreamWriter) -> None:
        self.stats.packets += 1
        try:
            packet = parse(line)
            site = self.check(packet)
        except PacketError as exc:
            self.refuse(peer, line, str(exc))
            return
        await self.publish(site, packet)
        answer = reply(packet)
        if answer is not None and not writer.is_closing():
            try:  # a monitor that hung up after sending still has its packets taken
                writer.write(answer)
                await writer.drain()
                self.stats.replies += 1
            except ConnectionError as exc:
                log.info("no reply to %s: %s", peer, exc)

    async def connection(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        self.stats.connections += 1
        buffer = bytearray()
        dropping = False  # inside a line longer than the limit
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(65536),
                                                   self.config.idle_seconds)
                except TimeoutError:
                    log.info("closing %s: silent for %s s", peer, self.config.idle_seconds)
                    break
                if not chunk:
                    break
                buffer += chunk
                while (end := buffer.find(b"\r\n")) >= 0:
                    line, buffer = bytes(buffer[:end + 2]), buffer[end + 2:]
                    if dropping:
                        dropping = False
                        continue
                    if line.strip():
                        await self.handle(line, peer, writer)
                if len(buffer) > self.config.max_line_bytes:
                    if not dropping:
                        self.refuse(peer, bytes(buffer), f"line longer than "
                                    f"{self.config.max_line_bytes} bytes (hj212.max_line_bytes)"
                                    ": dropped up to its end")
                    dropping, buffer = True, bytearray()
        except (ConnectionError, OSError) as exc:
            log.info("connection %s ended: %s", peer, exc)
        finally:
            writer.close()

    async def serve(self) -> None:
        self.mqtt.connect(self.settings.mqtt.host or "127.0.0.1", self.settings.mqtt.port)
        self.mqtt.loop_start()
        server = await asyncio.start_server(self.connection, self.config.host, self.config.port)
        log.info("HJ 212 gateway on %s:%s", self.config.host, self.config.port)
        if self.health is not None:
            self.health.ready()
        async with server:
            await server.serve_forever()

    def close(self) -> None:
        self.mqtt.disconnect()
        self.mqtt.loop_stop()
        self.kafka.close(timeout=5)


def run_gateway(settings: Settings) -> None:
    """``fjsense hj212`` in the foreground, with its health endpoint, until SIGTERM/SIGINT."""
    import signal

    health = Health(GATEWAY)
    config: GatewaySettings = settings.section(GATEWAY)  # type: ignore[assignment]
    server = HealthServer(health, settings.health.host, config.health_port)
    gateway = Gateway(settings, health)

    async def serve() -> None:
        task = asyncio.ensure_future(gateway.serve())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await task
        except asyncio.CancelledError:
            pass

    try:
        asyncio.run(serve())
    finally:
        gateway.close()
        server.close()
