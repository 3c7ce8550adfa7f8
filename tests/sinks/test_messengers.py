"""The messengers' receivers against local robots that check requests as the services
document them: the exact text, the signature, and a refusal raising (so it is retried)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterator

import pytest

from fjsense.settings import Settings
from sinks.message import Message
from sinks.messengers import (
    TEXT_BYTES,
    DingTalkReceiver,
    FeishuReceiver,
    WeComReceiver,
    dingtalk_sign,
    feishu_sign,
    limited,
)
from sinks.receivers import receivers_of
from tests.robots import Robots

EVENT = {"rule": "tide-surge", "group_key": "xiamen-tide", "state": "firing",
         "at": "2026-12-06T08:00:00+00:00", "severity": "warning",
         "summary": "厦门 storm surge 1.12 m (limit 1.0)", "labels": {}}
TEXT = ("【告警】Xiamen tide station\n"
        "告警  2026-12-06 16:00  厦门 storm surge 1.12 m (limit 1.0)\nid 3f2a9c")  # as rendered
MESSAGE = Message(id="3f2a9c", receiver="dingtalk", route="default", reason="new",
                  group_labels={"rule": "tide-surge"}, events=[EVENT], lang="zh",
                  texts={"text": TEXT})


@pytest.fixture
def robots() -> Iterator[Robots]:
    served = Robots()
    yield served
    served.close()


def test_the_signatures_match_the_services_own_examples():
    # DingTalk's documented Python: quote_plus(b64encode(hmac(secret, f"{ts}\n{secret}")))
    secret, stamp = "this is secret", 1577262236757
    mac = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(stamp, secret) == base64.b64encode(mac).decode()
    # Feishu's documented Python: the key is f"{timestamp}\n{secret}", the message empty
    key = f"{1599360473}\n{secret}".encode()
    assert feishu_sign(1599360473, secret) == base64.b64encode(
        hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert dingtalk_sign(stamp, secret) != feishu_sign(stamp, secret)


def test_each_robot_gets_the_exact_text_signed_as_its_service_checks(robots: Robots):
    settings = Settings(alerts=robots.urls())
    receivers = receivers_of(settings)
    assert list(receivers) == ["log", "mqtt", "dingtalk", "wecom", "feishu"] or \
        set(receivers) >= {"dingtalk", "wecom", "feishu"}
    for name in ("dingtalk", "wecom", "feishu"):
        receivers[name].send(MESSAGE)
    assert robots.received == {"dingtalk": [TEXT], "wecom": [TEXT], "feishu": [TEXT]}
    assert robots.refused == {"dingtalk": 0, "wecom": 0, "feishu": 0}


@pytest.mark.parametrize("name", ["dingtalk", "wecom", "feishu"])
def test_a_wrong_secret_or_key_is_refused_by_the_robot_and_raises(robots: Robots, name: str):
    urls = robots.urls()
    kinds = {"dingtalk": DingTalkReceiver, "wecom": WeComReceiver, "feishu": FeishuReceiver}
    url = urls[f"{name}_url"]
    if name == "wecom":  # its key is its credential
        url = url.replace("key=", "key=0")
    receiver = kinds[name](url, "wrong secret" if name != "wecom" else None)
    with pytest.raises(RuntimeError, match=f"{name} refused the message"):
        receiver.send(MESSAGE)
    assert robots.refused[name] == 1 and robots.received[name] == []


def test_dingtalk_signs_in_the_query_and_keeps_the_access_token():
    receiver = DingTalkReceiver("https://oapi.dingtalk.com/robot/send?access_token=T", "SECx")
    url, body = receiver.request(MESSAGE)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["access_token"] == ["T"]
    assert query["sign"] == [dingtalk_sign(int(query["timestamp"][0]), "SECx")]
    assert body == {"msgtype": "text", "text": {"content": TEXT}}


def test_a_long_notification_is_cut_to_what_every_robot_takes():
    text = limited("浪高 " * 4000)
    assert TEXT_BYTES - 1000 < len(text.encode()) <= TEXT_BYTES and text.startswith("浪高 浪高")
