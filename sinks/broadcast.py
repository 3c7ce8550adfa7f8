"""The coast's broadcast points: the last hop that tells fishermen and visitors about a surge,
hypoxia or a bloom, read out by smart speakers at fishing ports, tourist areas and fish rafts.

The receiver ``broadcast`` reaches the catalog's points within ``broadcast.within_km`` of an
alert's station, or in its district. Each point gets its own ``alert_notifications`` row
(``target``: the point), published QoS 1 on ``{broadcast.topic_prefix}/{point}`` as
``{"alert_id", "severity", "colour", "text", "lang", "ts", "expires"}``; ``alert_id`` is the
row's id, the same on every repeat. A point acknowledges on ``…/{point}/ack`` with
``{"alert_id"}``; until it does, a broadcast of a still firing alert is sent again every
``broadcast.repeat_seconds``. Every ``broadcast.report_seconds`` each point's state goes on
``fj.broadcast.status``, where the rule ``broadcast-point-silent`` judges it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError

from fjsense.catalog import BroadcastPoint, Catalog
from fjsense.sensorkind import Stream
from fjsense.settings import Settings
from fjsense.topics import BROADCAST_STATUS, BroadcastStatus
from sinks.message import Message, colour_of
from sinks.mqtt_publish import close, notifier_client, publish_confirmed

log = logging.getLogger("fjsense.broadcast")

EARTH_RADIUS_KM = 6371.0088  # the IUGG mean radius
SEVERITY_ORDER = ("info", "blue", "warning", "yellow", "orange", "critical", "red")
# a broadcast waits while one of its alerts' latest transition is still the firing it told
STILL_FIRING = (
    "EXISTS (SELECT 1 FROM jsonb_array_elements(n.events) e WHERE e->>'state' = 'firing' AND "
    "(SELECT a.state = 'firing' AND a.at = (e->>'at')::timestamptz FROM alert_events a WHERE "
    "a.rule = e->>'rule' AND a.group_key = e->>'group_key' AND a.state <> 'pending' "
    "ORDER BY a.at DESC LIMIT 1))")
POINT_STATE = (
    "SELECT n.target, count(*) AS sent, count(n.acked_at) AS acked, "
    f"count(*) FILTER (WHERE n.acked_at IS NULL AND {STILL_FIRING}) AS waiting, "
    "coalesce(extract(epoch FROM now() - min(n.created_at) FILTER (WHERE n.acked_at IS NULL "
    f"AND {STILL_FIRING})), 0) AS unacked_s FROM alert_notifications n WHERE n.target IS NOT "
    "NULL AND n.created_at > now() - interval '1 day' GROUP BY n.target")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) on the mean Earth."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def points_for(catalog: Catalog, events: Sequence[dict[str, Any]],
               within_km: float) -> list[BroadcastPoint]:
    """The points that hear ``events``: within ``within_km`` of an event's station, or in its
    district (a station's, or the group of a district roll-up), in catalog order."""
    places, districts = [], set()
    for event in events:
        if event.get("group_by") == "district":
            districts.add(event["group_key"])
        try:
            site = catalog.site(event.get("site") or "")
        except KeyError:
            continue
        places.append((site.lat, site.lon))
        if site.district:
            districts.add(site.district)
    return [p for p in catalog.broadcast_points if p.district in districts or any(
        distance_km(lat, lon, p.lat, p.lon) <= within_km for lat, lon in places)]


def broadcast_payload(message: Message, now: datetime, expires_seconds: float) -> dict[str, Any]:
    """What a point gets: its text to read out, and the worst alert's severity and colour."""
    firing = [e for e in message.events if e["state"] == "firing"] or message.events
    worst = max(firing, key=lambda e: SEVERITY_ORDER.index(e["severity"])
                if e["severity"] in SEVERITY_ORDER else 0)
    return {"alert_id": message.id, "severity": worst["severity"], "colour": colour_of(worst),
            "text": message.texts["speech"], "lang": message.lang,
            "ts": now.isoformat(timespec="seconds"),
            "expires": (now + timedelta(seconds=expires_seconds)).isoformat(timespec="seconds")}


class BroadcastReceiver:
    """Publishes each point's broadcast and collects the points' acknowledgements."""

    name = "broadcast"

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.broadcast.topic_prefix
        self.expires = settings.broadcast.expires_seconds
        self._acks: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.refused = 0  # acknowledgements that were not JSON with an alert_id
        self.client = notifier_client(settings, self._on_connect)
        self.client.on_message = self._on_message

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(f"{self.prefix}/+/ack", qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        point = msg.topic[len(self.prefix) + 1:].removesuffix("/ack")
        try:
            alert_id = json.loads(msg.payload)["alert_id"]
            if not isinstance(alert_id, str):
                raise TypeError("alert_id is not text")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("broadcast point %s sent an acknowledgement that is not "
                        '{"alert_id": "…"}: %s', point, exc)
            self.refused += 1
            return
        with self._lock:
            self._acks.append((point, alert_id))

    def acks(self) -> list[tuple[str, str]]:
        """The (point, alert_id) acknowledgements heard since the last call."""
        with self._lock:
            taken, self._acks = self._acks, []
        return taken

    def send(self, message: Message) -> None:
        """Publish the broadcast to its point (``message.target``), QoS 1."""
        if message.target is None:
            raise ValueError("a broadcast names its point")
        payload = broadcast_payload(message, datetime.now(UTC), self.expires)
        publish_confirmed(self.client, f"{self.prefix}/{message.target}",
                          json.dumps(payload, ensure_ascii=False))

    def close(self) -> None:
        """Disconnect."""
        close(self.client)


class Broadcaster:
    """The notifier's side of the broadcast loop: which points a message reaches, the
    acknowledgements recorded, repeats made due, and each point's state reported."""

    def __init__(self, settings: Settings, catalog: Catalog, receiver: BroadcastReceiver) -> None:
        self.settings = settings
        self.catalog = catalog
        self.receiver = receiver
        self.producer: KafkaProducer | None = None

    def targets(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """The ids of the points that hear ``events``."""
        return [p.id for p in points_for(self.catalog, events, self.settings.broadcast.within_km)]

    def record_acks(self, conn: psycopg.Connection) -> int:
        """Store the acknowledgements heard; one for no broadcast of that point is logged."""
        recorded = 0
        for point, alert_id in self.receiver.acks():
            done = conn.execute(
                "UPDATE alert_notifications SET acked_at = coalesce(acked_at, now()) "
                "WHERE id = %s AND target = %s", [alert_id, point]).rowcount
            if not done:
                log.warning("broadcast point %s acknowledged %s, which it was never sent",
                            point, alert_id)
            recorded += done
        return recorded

    def repeat_due(self, conn: psycopg.Connection) -> int:
        """Make due again every delivered, unacknowledged broadcast of a still firing alert
        whose repeat time has come; the deliver step sends it (``attempts`` counts sends)."""
        return conn.execute(
            "UPDATE alert_notifications SET delivered_at = NULL WHERE id IN (SELECT n.id FROM "
            "alert_notifications n WHERE n.target IS NOT NULL AND n.acked_at IS NULL AND "
            f"n.delivered_at IS NOT NULL AND n.next_attempt_at <= now() AND {STILL_FIRING} "
            "FOR UPDATE SKIP LOCKED)").rowcount

    def states(self, conn: psycopg.Connection, now: datetime) -> list[BroadcastStatus]:
        """Every point's state now: points that heard nothing today are all zeros."""
        found = {row[0]: row[1:] for row in conn.execute(POINT_STATE)}
        states = []
        for point in self.catalog.broadcast_points:
            sent, acked, waiting, unacked_s = found.get(point.id, (0, 0, 0, 0))
            states.append(BroadcastStatus(
                device=point.id, site=point.id, district=point.district, ts=now,
                unacked_s=float(unacked_s), waiting=waiting, sent=sent, acked=acked))
        return states

    def report(self, conn: psycopg.Connection, now: datetime) -> int:
        """Send each point's state on ``fj.broadcast.status``; a lost report costs nothing,
        the next follows."""
        if self.producer is None:
            self.producer = KafkaProducer(bootstrap_servers=self.settings.kafka.servers,
                                          client_id="fjsense-notify", acks="all", linger_ms=0,
                                          max_block_ms=2000)
        sent = 0
        for state in self.states(conn, now):
            try:
                self.producer.send(BROADCAST_STATUS, key=state.device.encode(),
                                   value=Stream.encode([state]))
                sent += 1
            except KafkaError as exc:
                log.warning("the broadcast points' state was not sent (%s); the next report "
                            "follows", exc)
                break
        self.producer.flush(timeout=10)
        return sent

    def close(self) -> None:
        """Close the producer."""
        if self.producer is not None:
            self.producer.close(timeout=5)
