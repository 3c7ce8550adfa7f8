"""Receivers of alert messages: log, webhook (JSON signed with HMAC-SHA256), MQTT (one
retained message per alert), e-mail over SMTP. A receiver raises when a message did not go
out; the notifier then tries again later. Every message carries its idempotency key, so a
receiver that sees it twice can drop the repeat."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from fjsense.credentials import Credentials
from fjsense.settings import Settings
from sinks.routing import receiver_names

log = logging.getLogger("fjsense.alerts")


@dataclass(frozen=True)
class Message:
    """One grouped notification for one receiver."""

    id: str  # idempotency key
    receiver: str
    route: str
    reason: str  # new: transitions; repeat: still firing, not acknowledged
    group_labels: dict[str, str]
    events: list[dict[str, Any]]

    @property
    def status(self) -> str:
        """Firing while any alert of the group is, judged by its latest transition here (a
        backlog may bring an alert's firing and its resolution in one message)."""
        latest = {(e["rule"], e["group_key"]): e["state"]
                  for e in sorted(self.events, key=lambda e: e["at"])}
        return "firing" if "firing" in latest.values() else "resolved"

    def body(self) -> bytes:
        """The notification as plain text: one line per alert."""
        return json.dumps({"id": self.id, "receiver": self.receiver, "route": self.route,
                           "status": self.status, "reason": self.reason,
                           "group_labels": self.group_labels, "alerts": self.events},
                          sort_keys=True, default=str).encode()

    def title(self) -> str:
        """A one-line subject: the status, the first alert's rule and group, and how many more."""
        first = self.events[0]
        more = f" (+{len(self.events) - 1} more)" if len(self.events) > 1 else ""
        again = " again" if self.reason == "repeat" else ""
        return f"[{self.status.upper()}{again}] {first['rule']} {first['group_key']}{more}"


class Receiver(Protocol):
    """Where notifications go; ``send`` raises on failure so the notifier retries."""

    name: str

    def send(self, message: Message) -> None:
        """Deliver ``message``; raise if it did not go out."""


class LogReceiver:
    """Writes notifications to the log: a receiver that always works, for the demo."""

    name = "log"

    def send(self, message: Message) -> None:
        """Log the message."""
        for event in message.events:
            log.warning("[%s] %s %s: %s", event["severity"], event["rule"], event["state"],
                        event["summary"])


def signature(secret: str, body: bytes) -> str:
    """The ``X-Fjsense-Signature`` header: ``sha256=`` and the HMAC of the body, in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookReceiver:
    """POSTs a notification as JSON, signed, with an idempotency key so a retry is recognised."""

    name = "webhook"

    def __init__(self, url: str, secret: str | None, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def send(self, message: Message) -> None:
        """POST the message; an HTTP error raises so that it is retried."""
        body = message.body()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.id}
        if self.secret:
            headers["X-Fjsense-Signature"] = signature(self.secret, body)
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()


class MqttReceiver:
    """Each alert's latest state, retained on ``{prefix}/{severity}/{group}/{rule}``."""

    name = "mqtt"

    def __init__(self, settings: Settings) -> None:
        login = Credentials(settings).mqtt_service("notifier")
        self.prefix = settings.alerts.mqtt_topic_prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(login.username, login.password)
        self.client.connect_async(settings.mqtt.host or "127.0.0.1", settings.mqtt.port)
        self.client.loop_start()  # reconnects by itself

    def send(self, message: Message) -> None:
        """Publish the message QoS 1 and wait for the broker to have it."""
        if not self.client.is_connected():
            raise ConnectionError("not connected to the MQTT broker")
        for event in message.events:
            topic = f"{self.prefix}/{event['severity']}/{event['group_key']}/{event['rule']}"
            payload = json.dumps({**event, "notification": message.id}, default=str)
            info = self.client.publish(topic, payload, qos=1, retain=True)
            info.wait_for_publish(10)
            if not info.is_published():
                raise TimeoutError(f"the MQTT broker did not take {topic}")

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class EmailReceiver:
    """Sends a notification by SMTP to the duty addresses."""

    name = "email"

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.alerts = settings.alerts
        self.timeout = timeout

    def send(self, message: Message) -> None:
        """Send the mail; an SMTP error raises so that it is retried."""
        alerts = self.alerts
        assert alerts.smtp_host is not None
        mail = EmailMessage()
        mail["Subject"] = message.title()
        mail["From"] = alerts.email_from
        mail["To"] = ", ".join(alerts.email_to)
        mail["Message-ID"] = f"<{message.id}@fjsense>"
        mail["X-Fjsense-Idempotency-Key"] = message.id
        mail.set_content("\n".join(
            f"{e['state']:>9}  {e['at']}  {e['summary']}" for e in message.events)
            + f"\n\nrule file route: {message.route}\n")
        with smtplib.SMTP(alerts.smtp_host, alerts.smtp_port, timeout=self.timeout) as smtp:
            if alerts.smtp_starttls:
                smtp.starttls()
            if alerts.smtp_user and alerts.smtp_password:
                smtp.login(alerts.smtp_user, alerts.smtp_password.get_secret_value())
            smtp.send_message(mail)


def receivers_of(settings: Settings) -> dict[str, Receiver]:
    """Every receiver the settings configure, by name (``sinks.routing.receiver_names``)."""
    alerts = settings.alerts

    def webhook() -> Receiver:
        assert alerts.webhook_url is not None
        secret = alerts.webhook_secret.get_secret_value() if alerts.webhook_secret else None
        return WebhookReceiver(alerts.webhook_url, secret)

    make: dict[str, Callable[[], Receiver]] = {
        "log": LogReceiver, "mqtt": lambda: MqttReceiver(settings), "webhook": webhook,
        "email": lambda: EmailReceiver(settings)}
    return {name: make[name]() for name in receiver_names(settings)}
