"""Receivers for the custom robots of China's workplace messengers: DingTalk (钉钉), WeCom
(企业微信) and Feishu (飞书). Each posts the notification's text to the robot's webhook in
the format and with the signing its service documents, and raises when the service answers
with an error code, so that the notifier retries as for any receiver.

- DingTalk: ``timestamp`` (ms) and ``sign`` in the URL; ``sign`` is the URL-encoded Base64 of
  HMAC-SHA256 keyed by the secret over ``"{timestamp}\\n{secret}"``. Answer ``errcode`` 0.
- WeCom: the robot's ``key`` is in the URL and is the secret; no signature. Answer
  ``errcode`` 0.
- Feishu: ``timestamp`` (s) and ``sign`` in the body; ``sign`` is the Base64 of HMAC-SHA256
  keyed by ``"{timestamp}\\n{secret}"`` over nothing. Answer ``code`` 0.

A service's robots refuse a timestamp more than an hour off, so a retry signs anew. The robot
URLs carry access tokens: they are secrets, from the environment.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
import urllib.request
from typing import Any

from sinks.message import Message

TEXT_BYTES = 4000  # WeCom's markdown takes 4,096 bytes, DingTalk's text 20,000: the least


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's ``sign`` before URL encoding."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """Feishu's ``sign``: the key is the timestamp and secret, the message empty."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def limited(text: str) -> str:
    """A message's ``text`` (its template ends with the message id, so a repeat after a lost
    answer is recognisable), cut to ``TEXT_BYTES``."""
    while len(text.encode()) > TEXT_BYTES:
        text = text[: len(text) * 9 // 10]
    return text


class RobotReceiver:
    """POSTs one JSON body to a robot webhook and checks the service's answer code."""

    name = "robot"
    code_field = "errcode"

    def __init__(self, url: str, secret: str | None = None, timeout: float = 5.0) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout

    def request(self, message: Message) -> tuple[str, dict[str, Any]]:
        """The URL and body for ``message``."""
        raise NotImplementedError

    def send(self, message: Message) -> None:
        """POST the message; an HTTP error or a non-zero answer code raises (retried)."""
        url, body = self.request(message)
        request = urllib.request.Request(
            url, data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"}, method="POST")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            answer = json.loads(response.read() or b"{}")
        code = answer.get(self.code_field, answer.get("StatusCode"))
        if code != 0:
            raise RuntimeError(f"{self.name} refused the message: {answer}")


class DingTalkReceiver(RobotReceiver):
    """DingTalk's custom robot (自定义机器人), signed when the robot has a secret (加签)."""

    name = "dingtalk"

    def request(self, message: Message) -> tuple[str, dict[str, Any]]:
        """A text message; the signature goes in the URL, beside the access token."""
        url = self.url
        if self.secret:
            now = int(time.time() * 1000)
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(
                {"timestamp": now, "sign": dingtalk_sign(now, self.secret)})
        return url, {"msgtype": "text", "text": {"content": limited(message.texts["text"])}}


class WeComReceiver(RobotReceiver):
    """WeCom's group robot (群机器人): the key in its URL is the credential."""

    name = "wecom"

    def request(self, message: Message) -> tuple[str, dict[str, Any]]:
        """A text message to the URL as given: WeCom signs nothing."""
        return self.url, {"msgtype": "text", "text": {"content": limited(message.texts["text"])}}


class FeishuReceiver(RobotReceiver):
    """Feishu's custom bot (自定义机器人), signed when the bot has a secret (签名校验)."""

    name = "feishu"
    code_field = "code"

    def request(self, message: Message) -> tuple[str, dict[str, Any]]:
        """A text message; the timestamp and signature go in the body."""
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": limited(message.texts["text"])}}
        if self.secret:
            now = int(time.time())
            body = {"timestamp": str(now), "sign": feishu_sign(now, self.secret), **body}
        return self.url, body
