"""The webhook's Standard Webhooks signature, checked by the specification's own verifier
(the ``standardwebhooks`` package) on a request captured by a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sinks.message import Message
from sinks.receivers import WebhookReceiver, signature, standard_secret

SECRET = "webhook-signing-test"
MESSAGE = Message(id="7d1e0c2b9a4f3e21", receiver="webhook", route="default", reason="new",
                  group_labels={"rule": "tide-surge"},
                  events=[{"rule": "tide-surge", "group_key": "xiamen-tide", "state": "firing",
                           "at": "2026-12-06T08:00:00+00:00", "summary": "surge 1.1 m"}])


@pytest.fixture
def captured() -> Iterator[list[tuple[dict[str, str], bytes]]]:
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    WebhookReceiver(f"http://127.0.0.1:{server.server_port}/hook", SECRET).send(MESSAGE)
    WebhookReceiver(f"http://127.0.0.1:{server.server_port}/hook", SECRET).send(MESSAGE)
    yield got
    server.shutdown()
    server.server_close()


def test_the_specifications_verifier_accepts_the_request_and_its_retry(captured):
    verifier = Webhook(standard_secret(SECRET))
    for headers, body in captured:
        assert verifier.verify(body, headers)["id"] == MESSAGE.id
        assert headers["webhook-id"] == MESSAGE.id  # the same on a retry: the receiver drops it
        assert abs(int(headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 5
        assert headers["x-fjsense-signature"] == signature(SECRET, body)  # deprecated, kept


def test_a_captured_request_cannot_be_replayed_or_altered(captured):
    verifier = Webhook(standard_secret(SECRET))
    headers, body = captured[0]
    fresh = {**headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()) + 1)}
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(body, fresh)  # a new timestamp on old bytes does not verify
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        verifier.verify(body.replace(b"firing", b"resolved"), headers)
    later = datetime.now(UTC) - timedelta(minutes=6)  # as seen six minutes after it was sent
    old = {**headers, "webhook-timestamp": str(int(later.timestamp())),
           "webhook-signature": verifier.sign(MESSAGE.id, later, body)}
    with pytest.raises(WebhookVerificationError, match="too old"):
        verifier.verify(body, old)


def test_a_whsec_secret_is_used_as_given_and_a_plain_one_keys_the_same_hmac():
    assert standard_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") == \
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    plain = Webhook(standard_secret("abc")).sign("id", datetime(2026, 1, 1, tzinfo=UTC), b"{}")
    assert plain == Webhook(b"abc").sign("id", datetime(2026, 1, 1, tzinfo=UTC), b"{}")
