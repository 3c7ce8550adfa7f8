"""Local stand-ins for the messengers' robot webhooks (DingTalk, WeCom, Feishu): real HTTP
servers that check each request as the services document it and answer as they do, with
their error codes for a bad signature or a stale timestamp."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRETS = {"dingtalk": "SECdingtalk-test-secret", "feishu": "feishu-test-secret"}
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"  # the documented example's shape
HOUR_MS = 3600 * 1000


def dingtalk_refusal(query: dict[str, list[str]]) -> dict[str, Any] | None:
    """DingTalk: ``timestamp`` in ms within an hour; ``sign`` = Base64(HMAC-SHA256(secret,
    timestamp + "\\n" + secret)), URL-encoded in the query."""
    secret = SECRETS["dingtalk"]
    stamp, sign = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
    if not stamp.isdigit() or abs(int(stamp) - time.time() * 1000) > HOUR_MS:
        return {"errcode": 310000, "errmsg": "timestamp expired"}
    mac = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    if sign != base64.b64encode(mac).decode():
        return {"errcode": 310000, "errmsg": "sign not match"}
    return None


def feishu_refusal(body: dict[str, Any]) -> dict[str, Any] | None:
    """Feishu: ``timestamp`` in s within an hour; ``sign`` = Base64(HMAC-SHA256(key=timestamp
    + "\\n" + secret, message empty)), in the body."""
    stamp, sign = str(body.get("timestamp", "")), body.get("sign", "")
    key = f"{stamp}\n{SECRETS['feishu']}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    if not stamp.isdigit() or abs(int(stamp) - time.time()) > 3600 or sign != expected:
        return {"code": 19021, "msg": "sign match fail or timestamp is not within one hour "
                                      "from current time", "data": {}}
    return None


class Robots:
    """The three robots on one server: ``/dingtalk/robot/send?access_token=…``,
    ``/wecom/cgi-bin/webhook/send?key=…``, ``/feishu/open-apis/bot/v2/hook/…``. What each
    took is in ``received[name]`` (the body's text); ``refused[name]`` counts refusals."""

    def __init__(self) -> None:
        self.received: dict[str, list[str]] = {"dingtalk": [], "wecom": [], "feishu": []}
        self.refused: dict[str, int] = {"dingtalk": 0, "wecom": 0, "feishu": 0}
        robots = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = url.path.split("/")[1]
                answer = robots.judge(name, query, body)
                data = json.dumps(answer).encode()
                self.send_response(200)  # the services answer errors with 200 and a code
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def judge(self, name: str, query: dict[str, list[str]], body: dict[str, Any]
              ) -> dict[str, Any]:
        """Check one request as its service does; keep its text when it passes."""
        if name == "dingtalk":
            refusal = dingtalk_refusal(query)
            if query.get("access_token") != ["dt-token"]:
                refusal = {"errcode": 300001, "errmsg": "token is not exist"}
            text = body.get("text", {}).get("content") if body.get("msgtype") == "text" else None
        elif name == "wecom":
            refusal = None if query.get("key") == [WECOM_KEY] else {
                "errcode": 93000, "errmsg": "invalid webhook url"}
            text = body.get("text", {}).get("content") if body.get("msgtype") == "text" else None
        else:
            refusal = feishu_refusal(body)
            text = body.get("content", {}).get("text") if body.get("msg_type") == "text" else None
        if refusal is None and not text:
            refusal = {"errcode": 40008, "errmsg": "invalid message type", "code": 9499}
        if refusal is not None:
            self.refused[name] += 1
            return refusal
        self.received[name].append(text or "")
        return {"code": 0, "msg": "success"} if name == "feishu" else {
            "errcode": 0, "errmsg": "ok"}

    def urls(self) -> dict[str, str]:
        """The settings that point the receivers here (``alerts.*``)."""
        base = f"http://127.0.0.1:{self.server.server_port}"
        return {"dingtalk_url": f"{base}/dingtalk/robot/send?access_token=dt-token",
                "dingtalk_secret": SECRETS["dingtalk"],
                "wecom_url": f"{base}/wecom/cgi-bin/webhook/send?key={WECOM_KEY}",
                "feishu_url": f"{base}/feishu/open-apis/bot/v2/hook/fs-hook",
                "feishu_secret": SECRETS["feishu"]}

    def close(self) -> None:
        """Stop the server."""
        self.server.shutdown()
        self.server.server_close()
