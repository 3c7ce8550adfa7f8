"""The notifier's MQTT connection: its own login, reconnecting by itself, and a publish that
raises unless the broker took the message (QoS 1), so the notifier retries it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from fjsense.credentials import Credentials
from fjsense.settings import Settings


def notifier_client(settings: Settings,
                    on_connect: Callable[..., Any] | None = None) -> mqtt.Client:
    """A started client logged in as the notifier; ``on_connect`` runs on every (re)connect."""
    login = Credentials(settings).mqtt_service("notifier")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(login.username, login.password)
    if on_connect is not None:
        client.on_connect = on_connect
    client.connect_async(settings.mqtt.host or "127.0.0.1", settings.mqtt.port)
    client.loop_start()  # reconnects by itself
    return client


def publish_confirmed(client: mqtt.Client, topic: str, payload: str,
                      retain: bool = False) -> None:
    """Publish QoS 1 and wait for the broker's PUBACK; raise if it does not come."""
    if not client.is_connected():
        raise ConnectionError("not connected to the MQTT broker")
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(10)
    if not info.is_published():
        raise TimeoutError(f"the MQTT broker did not take {topic}")


def close(client: mqtt.Client) -> None:
    """Disconnect and stop the client's thread."""
    client.disconnect()
    client.loop_stop()
