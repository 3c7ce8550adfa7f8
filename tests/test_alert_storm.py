"""1,000 stations breaching at once, and the worker SIGKILLed in the middle of the storm: every
transition is stored once, and the webhook (a real HTTP receiver) gets each alert once, in a
handful of grouped messages, not 1,000; so does the SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaProducer

from app.processes import Components, wait_for
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from fjsense.stack.service import free_port
from sinks.migrate import bootstrap

pytestmark = pytest.mark.integration

STATIONS = 1000
RULES = """shipped: false
rules:
  - {name: storm, source: fj.raw.power, metric: kw, group_by: site, above: 900,
     severity: critical, scope: {region: storm}}
routes:
  - {receivers: [webhook, email], group_by: [rule], group_wait: 3s, group_interval: 5s,
     repeat_interval: 1h}
"""


def storm_catalog(path: Path) -> None:
    """An operator's catalog of 1,000 small datacenters, one facility meter each."""
    lines = ["regions:", "  - {id: storm, name: Storm coast}", "sites:"]
    lines += [f"  - {{id: storm-{n:04d}, name: Storm site {n}, kind: power, region: storm, "
              f"lat: 25.0, lon: 119.0, it_design_kw: 1000, devices: [{{id: storm-{n:04d}-m, "
              f"circuit: facility, rated_kw: 2000}}]}}" for n in range(STATIONS)]
    path.write_text("\n".join(lines) + "\n")


def firing_lines(mails: list[email.message.Message]) -> list[str]:
    """The alerts the mails tell of, one line each (the shipped English body's
    ``FIRING  at (Beijing time)  summary``)."""
    return [line for mail in mails
            for line in mail.get_payload(decode=True).decode().splitlines()  # type: ignore[union-attr]
            if line.startswith("FIRING  ")]


def test_a_storm_of_breaches_is_grouped_and_survives_a_killed_worker(
        settings: Settings, tmp_path: Path):
    got: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mails: list[email.message.Message] = []

    class Mailbox:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            mails.append(email.message_from_bytes(envelope.content))
            return "250 OK"

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    (tmp_path / "rules.yaml").write_text(RULES)
    storm_catalog(tmp_path / "stations.yaml")
    settings = Settings(**{**settings.model_dump(), "catalog": {"file": tmp_path / "stations.yaml"},
                           "alerts": {**settings.alerts.model_dump(),
                                      "rules_file": tmp_path / "rules.yaml",
                                      "webhook_url": f"http://127.0.0.1:{server.server_port}/",
                                      "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                                      "email_to": ["duty@fj.example"],
                                      "notify_poll_seconds": 0.2}})
    bootstrap(settings)
    ensure_topics(settings)
    parts = Components(settings, tmp_path / "logs")
    for name in ("worker", "sink", "notify"):
        parts.start(name)
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)

    def firing() -> int:
        return conn.execute("SELECT count(*) FROM alert_events WHERE rule = 'storm' "
                            "AND state = 'firing'").fetchone()[0]  # type: ignore[index]

    try:
        parts.wait_ready("worker")
        at = datetime.now(UTC) - timedelta(hours=1)
        producer = KafkaProducer(bootstrap_servers=settings.kafka.servers)  # as the bridge does
        for n in range(STATIONS):  # one breach per station, as its meter would send it
            reading = {"device": f"storm-{n:04d}-m", "seq": 1, "ts": at.isoformat(),
                       "circuit": "facility", "kw": 950.0, "kwh": 10.0}
            producer.send("fj.raw.power", key=f"storm-{n:04d}".encode(),
                          value=json.dumps([reading]).encode())
        producer.flush()
        producer.close()
        wait_for(lambda: firing() >= 50, 60, "the storm to begin", firing)
        parts.kill("worker")  # mid-storm
        parts.start("worker")
        wait_for(lambda: firing() == STATIONS, 120, "every station's transition",
                 lambda: (firing(), parts.log("worker")[-3000:]))
        wait_for(lambda: sum(len(m["alerts"]) for m in got) >= STATIONS, 60,
                 "every alert at the webhook", lambda: sum(len(m["alerts"]) for m in got))
        wait_for(lambda: len(firing_lines(mails)) >= STATIONS, 60, "every alert by mail",
                 lambda: len(firing_lines(mails)))
        first = conn.execute("SELECT min(stored_at) FROM alert_events").fetchone()[0]  # type: ignore[index]
        sent = conn.execute("SELECT min(created_at) FROM alert_notifications").fetchone()[0]  # type: ignore[index]
    finally:
        codes = parts.stop_all()
        conn.close()
        server.shutdown()
        server.server_close()
        smtp.stop()
    assert codes == {"worker": 0, "sink": 0, "notify": 0}
    alerts = Counter((a["group_key"], a["state"]) for m in got for a in m["alerts"])
    assert len(alerts) == STATIONS and set(alerts.values()) == {1}  # each once
    assert len(got) <= 10, f"{len(got)} messages for {STATIONS} alerts"  # grouped
    assert timedelta(seconds=3) <= sent - first < timedelta(seconds=5)  # after group_wait
    assert all(m["group_labels"] == {"rule": "storm"} for m in got)
    mailed = Counter(line.split("  ")[-1] for line in firing_lines(mails))
    assert len(mailed) == STATIONS and set(mailed.values()) == {1}  # each alert once by mail
    keys = [mail["X-Fjsense-Idempotency-Key"] for mail in mails]
    assert len(mails) <= 10 and len(set(keys)) == len(keys)
