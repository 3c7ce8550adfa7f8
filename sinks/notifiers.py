"""Alert notifiers (log, webhook, MQTT) fed from ``alert_events`` as an outbox.

A transition is notified once, by whichever sink worker locks it first, after it is stored; a
failing channel is recorded in ``notify_errors`` and does not stop the others.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import psycopg
from psycopg.rows import dict_row

from fjsense.credentials import Credentials
from fjsense.settings import Settings

log = logging.getLogger("fjsense.alerts")


class Notifier(Protocol):
    name: str

    def send(self, event: dict[str, Any]) -> None:
        """Deliver one alert transition; raise on failure."""


class LogNotifier:
    name = "log"

    def send(self, event: dict[str, Any]) -> None:
        log.warning("[%s] %s %s: %s", event["severity"], event["rule"], event["state"],
                    event["summary"])


class WebhookNotifier:
    name = "webhook"

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    def send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, default=str).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()


class MqttNotifier:
    """Publishes each transition, retained, on ``{prefix}/{severity}/{site}/{rule}``."""

    name = "mqtt"

    def __init__(self, settings: Settings) -> None:
        login = Credentials(settings).mqtt_service("notifier")
        self.prefix = settings.alerts.mqtt_topic_prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(login.username, login.password)
        self.client.connect(settings.mqtt.host or "127.0.0.1", settings.mqtt.port)
        self.client.loop_start()

    def send(self, event: dict[str, Any]) -> None:
        topic = f"{self.prefix}/{event['severity']}/{event['site']}/{event['rule']}"
        info = self.client.publish(topic, json.dumps(event, default=str), qos=1, retain=True)
        info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def default_notifiers(settings: Settings) -> list[Notifier]:
    chosen: list[Notifier] = [LogNotifier(), MqttNotifier(settings)]
    if settings.alerts.webhook_url:
        chosen.append(WebhookNotifier(settings.alerts.webhook_url))
    return chosen


async def dispatch(conn: psycopg.AsyncConnection, notifiers: list[Notifier]) -> int:
    """Notify every stored, not yet notified transition; returns how many were sent."""
    sent = 0
    async with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT rule, site, state, at, value, threshold, severity, summary "
            "FROM alert_events WHERE notify AND notified_at IS NULL ORDER BY at "
            "FOR UPDATE SKIP LOCKED"
        )
        for event in await cur.fetchall():
            errors = []
            for notifier in notifiers:
                try:
                    notifier.send(event)
                except Exception as exc:  # noqa: BLE001 - one channel must not stop the rest
                    errors.append(f"{notifier.name}: {exc}")
                    log.error("alert notifier %s failed: %s", notifier.name, exc)
            await cur.execute(
                "UPDATE alert_events SET notified_at = now(), notify_errors = %s "
                "WHERE rule = %s AND site = %s AND state = %s AND at = %s",
                ["; ".join(errors) or None, event["rule"], event["site"], event["state"],
                 event["at"]],
            )
            sent += 1
    return sent
