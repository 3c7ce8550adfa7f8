"""Receivers of alert messages: log, webhook (JSON signed as Standard Webhooks), MQTT (one
retained message per alert), e-mail over SMTP, the messengers' robots
(``sinks/messengers.py``) and the coast's broadcast points (``sinks/broadcast.py``). A receiver raises when a message did not go out; the notifier then
tries again later. Every message carries its idempotency key, so a receiver that sees it twice
can drop the repeat."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import smtplib
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage

from standardwebhooks import Webhook

from fjsense.settings import Settings
from sinks.broadcast import BroadcastReceiver
from sinks.message import Message, Receiver
from sinks.messengers import DingTalkReceiver, FeishuReceiver, RobotReceiver, WeComReceiver
from sinks.mqtt_publish import close, notifier_client, publish_confirmed
from sinks.routing import receiver_names

log = logging.getLogger("fjsense.alerts")


class LogReceiver:
    """Writes notifications to the log: a receiver that always works, for the demo."""

    name = "log"

    def send(self, message: Message) -> None:
        """Log the message."""
        for event in message.events:
            log.warning("[%s] %s %s: %s", event["severity"], event["rule"], event["state"],
                        event["summary"])


def signature(secret: str, body: bytes) -> str:
    """The deprecated ``X-Fjsense-Signature`` header: ``sha256=`` and the HMAC of the body, in
    hex. It signs the body alone, so a captured request can be replayed later; kept for one
    release beside the Standard Webhooks headers."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_secret(secret: str) -> str:
    """The Standard Webhooks form of ``alerts.webhook_secret``: a ``whsec_`` secret as given,
    else ``whsec_`` and the Base64 of its UTF-8 bytes (the same HMAC key either way)."""
    if secret.startswith("whsec_"):
        return secret
    return "whsec_" + base64.b64encode(secret.encode()).decode()


class WebhookReceiver:
    """POSTs a notification as JSON (or the route's or receiver's ``webhook_body``), signed as the Standard Webhooks specification says:
    ``webhook-id`` (the idempotency key, the same on every retry), ``webhook-timestamp`` (this
    attempt's) and ``webhook-signature`` over both and the body, so a receiver refuses a
    captured request replayed later (the specification's tolerance: 5 minutes)."""

    name = "webhook"

    def __init__(self, url: str, secret: str | None, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.signer = Webhook(standard_secret(secret)) if secret else None
        self.timeout = timeout

    def send(self, message: Message) -> None:
        """POST the message; an HTTP error raises so that it is retried."""
        body = (message.texts["webhook_body"].encode() if "webhook_body" in message.texts
                else message.body())
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.id}
        if self.signer is not None and self.secret:
            now = datetime.now(UTC)
            headers.update({
                "webhook-id": message.id, "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(message.id, now, body),
                "X-Fjsense-Signature": signature(self.secret, body)})
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()


class MqttReceiver:
    """Each alert's latest state, retained on ``{prefix}/{severity}/{group}/{rule}``."""

    name = "mqtt"

    def __init__(self, settings: Settings) -> None:
        self.prefix = settings.alerts.mqtt_topic_prefix
        self.client = notifier_client(settings)

    def send(self, message: Message) -> None:
        """Publish the message QoS 1 and wait for the broker to have it."""
        for event in message.events:
            topic = f"{self.prefix}/{event['severity']}/{event['group_key']}/{event['rule']}"
            payload = json.dumps({**event, "notification": message.id}, default=str)
            publish_confirmed(self.client, topic, payload, retain=True)

    def close(self) -> None:
        """Disconnect."""
        close(self.client)


class EmailReceiver:
    """Sends a notification by SMTP to the duty addresses: its ``email_subject`` and
    ``email_body`` texts."""

    name = "email"

    def __init__(self, settings: Settings, timeout: float = 10.0) -> None:
        self.alerts = settings.alerts
        self.timeout = timeout

    def send(self, message: Message) -> None:
        """Send the mail; an SMTP error raises so that it is retried."""
        alerts = self.alerts
        assert alerts.smtp_host is not None
        mail = EmailMessage()
        mail["Subject"] = message.texts["email_subject"]
        mail["From"] = alerts.email_from
        mail["To"] = ", ".join(alerts.email_to)
        mail["Message-ID"] = f"<{message.id}@fjsense>"
        mail["X-Fjsense-Idempotency-Key"] = message.id
        mail.set_content(message.texts["email_body"] + "\n")
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

    def secret(name: str) -> str | None:
        value = getattr(alerts, name, None)  # WeCom's robot has no signing secret
        return value.get_secret_value() if value is not None else None

    def robot(kind: type[RobotReceiver]) -> Callable[[], Receiver]:
        return lambda: kind(secret(f"{kind.name}_url") or "", secret(f"{kind.name}_secret"))

    make: dict[str, Callable[[], Receiver]] = {
        "log": LogReceiver, "mqtt": lambda: MqttReceiver(settings), "webhook": webhook,
        "email": lambda: EmailReceiver(settings), "dingtalk": robot(DingTalkReceiver),
        "wecom": robot(WeComReceiver), "feishu": robot(FeishuReceiver),
        "broadcast": lambda: BroadcastReceiver(settings)}
    return {name: make[name]() for name in receiver_names(settings)}
