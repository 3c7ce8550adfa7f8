"""`fjsense simulate broadcast`: the coast's broadcast points as they behave in the field. Each
logs in with its own MQTT login, listens on ``{broadcast.topic_prefix}/{point}``, says what its
speaker would read out, and acknowledges on ``…/{point}/ack`` with ``{"alert_id"}``; a point
named ``silent`` listens but never acknowledges (a speaker whose uplink is one-way)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from fjsense.catalog import BroadcastPoint, Catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings


@dataclass(frozen=True)
class Heard:
    """One broadcast as a point heard it, and whether it acknowledged."""

    point: BroadcastPoint
    payload: dict[str, Any]
    acked: bool


class SimulatedPoints:
    """Broadcast points on the MQTT broker, each with its own client and login."""

    def __init__(self, settings: Settings, points: Iterable[BroadcastPoint],
                 on_heard: Callable[[Heard], None], silent: Iterable[str] = ()) -> None:
        self.prefix = settings.broadcast.topic_prefix
        self.silent = set(silent)
        self.on_heard = on_heard
        self.subscribed = threading.Semaphore(0)
        self.clients: list[mqtt.Client] = []
        creds = Credentials(settings)
        for point in points:
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"point-{point.id}",
                                 protocol=mqtt.MQTTv5, userdata=point)
            login = creds.device(point.id)
            client.username_pw_set(login.username, login.password)
            client.on_connect = self._on_connect
            client.on_subscribe = lambda *_: self.subscribed.release()
            client.on_message = self._on_message
            client.connect_async(settings.mqtt.host or "127.0.0.1", settings.mqtt.port)
            client.loop_start()
            self.clients.append(client)

    def _on_connect(self, client: mqtt.Client, point: BroadcastPoint, _f: Any, reason: Any,
                    _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(f"{self.prefix}/{point.id}", qos=1)

    def _on_message(self, client: mqtt.Client, point: BroadcastPoint,
                    msg: mqtt.MQTTMessage) -> None:
        payload = json.loads(msg.payload)
        acked = point.id not in self.silent
        if acked:
            client.publish(f"{self.prefix}/{point.id}/ack",
                           json.dumps({"alert_id": payload["alert_id"]}), qos=1)
        self.on_heard(Heard(point, payload, acked))

    def wait_subscribed(self, timeout: float = 30.0) -> bool:
        """Whether every point subscribed within ``timeout`` seconds."""
        return all(self.subscribed.acquire(timeout=timeout) for _ in self.clients)

    def close(self) -> None:
        """Disconnect every point."""
        for client in self.clients:
            client.disconnect()
            client.loop_stop()


def chosen_points(catalog: Catalog, ids: list[str] | None) -> list[BroadcastPoint]:
    """The catalog's points, or those of ``ids``; an unknown id is an error naming the known."""
    known = {p.id: p for p in catalog.broadcast_points}
    unknown = [i for i in ids or () if i not in known]
    if unknown:
        raise ValueError(f"no broadcast point {unknown[0]!r}; points: {', '.join(known)}")
    return [known[i] for i in ids] if ids else list(known.values())


def heard_line(heard: Heard) -> str:
    """What a point prints: its name, the colour, the text read out, and its answer."""
    payload = heard.payload
    answer = "acknowledged" if heard.acked else "NOT acknowledged (silent)"
    return (f"{payload['ts']}  {heard.point.name} [{payload['colour']}] says: {payload['text']}"
            f"  — {answer} {payload['alert_id']}")
