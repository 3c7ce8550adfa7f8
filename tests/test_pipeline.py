"""The acceptance run: 3 sites × 2 simulated hours through real Mosquitto, Tansu, PostgreSQL.

Duplicates, reordering, dropouts, malformed payloads, a counter reset and a chiller fault are
injected; the worker and the sink are SIGKILLed mid-run and restarted. Afterwards every valid
(device, seq) is stored exactly once, every malformed payload is a dead letter, PUE equals an
independent computation from the stored counters, and the alert went pending → firing →
resolved once, for the faulted site only, notified once per transition.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from simulators.faults import Faults
from simulators.power import CoolingFault, CounterReset, PowerScenario, generate, scenario_sites
from simulators.publisher import DevicePublisher, PublishStats
from sinks.migrate import bootstrap
from tests.pipeline import Components, wait_for
from tests.reference_pue import counters, energy

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)  # 02:00 in Fuzhou, January: PUE near 1.2
FAULT = CoolingFault("changle-dc1", START + timedelta(minutes=30), START + timedelta(minutes=70), 3.0)
RESET = CounterReset("anxi-dc1-m02", START + timedelta(minutes=50))
WINDOWS_PER_SITE = 118  # 2 h of 1-minute windows, the last 2 minutes still within lateness


class Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Webhook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts"
    server.shutdown()
    server.server_close()


@pytest.fixture
def alerts_on_mqtt(settings: Settings) -> Iterator[list[tuple[str, dict]]]:
    got: list[tuple[str, dict]] = []
    login = Credentials(settings).mqtt_service("notifier")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(login.username, login.password)
    client.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload)))
    client.connect("127.0.0.1", settings.mqtt.port)
    client.subscribe(f"{settings.alerts.mqtt_topic_prefix}/#", qos=1)
    client.loop_start()
    yield got
    client.disconnect()
    client.loop_stop()


def count(conn: psycopg.Connection, query: str) -> int:
    return conn.execute(query).fetchone()[0]  # type: ignore[index]


@pytest.fixture
def run(settings: Settings, tmp_path: Path, webhook: str, alerts_on_mqtt: list
        ) -> Iterator[tuple[PublishStats, psycopg.Connection, Components]]:
    bootstrap(settings)
    parts = Components(settings, tmp_path, FJSENSE_ALERTS__WEBHOOK_URL=webhook)
    for name in ("bridge", "worker", "sink"):
        parts.start(name)
    parts.wait_bridge_subscribed()
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)
    scenario = PowerScenario(scenario_sites(load_catalog(), 3), START, timedelta(hours=2),
                             seed=7, cooling_faults=[FAULT], counter_resets=[RESET])
    faults = Faults(dropout=0.01, duplicate=0.03, reorder=0.05, malformed=0.01, seed=7)
    publisher = DevicePublisher(settings)
    try:
        messages = list(faults.apply(generate(scenario)))
        half = len(messages) // 2
        publisher.run(messages[:half])
        wait_for(lambda: count(conn, "SELECT count(*) FROM pue_windows") > 20, 90,
                 "the first PUE windows")
        parts.kill("worker")
        parts.kill("sink")
        stats = publisher.run(messages[half:])  # readings pile up in Kafka meanwhile
        parts.start("worker")
        parts.start("sink")
        progress = ("SELECT (SELECT count(*) FROM pue_windows), (SELECT count(*) FROM power_readings),"
                    " (SELECT count(*) FROM alert_events WHERE notified_at IS NOT NULL)")
        target = (3 * WINDOWS_PER_SITE, len(stats.valid), 2)
        wait_for(lambda: all(a >= b for a, b in zip(conn.execute(progress).fetchone(), target)),
                 180, f"the whole run to be stored {target}",
                 lambda: (conn.execute(progress).fetchone(), parts.log("bridge")[-3000:]))
        yield stats, conn, parts
    finally:
        publisher.close()
        codes = parts.stop_all()
        conn.close()
    assert codes == {"bridge": 0, "worker": 0, "sink": 0}, codes


def test_end_to_end_with_faults_and_crashes(run, alerts_on_mqtt):
    stats, conn, parts = run

    stored = Counter(conn.execute("SELECT device, seq FROM power_readings").fetchall())
    assert set(stored) == stats.valid, "every valid (device, seq) stored"
    assert max(stored.values()) == 1, "none stored twice"
    assert len(stats.valid) > 6000 and stats.published > len(stats.valid)

    letters = conn.execute("SELECT stage, payload, reason FROM dead_letters").fetchall()
    assert sorted(bytes(p) for _, p, _ in letters) == sorted(stats.malformed)
    assert {stage for stage, _, _ in letters} == {"ingest"}
    assert all(reason for _, _, reason in letters) and len(letters) > 30

    windows = conn.execute(
        "SELECT site, window_start, window_end, pue, pue_rolling, reason FROM pue_windows "
        "ORDER BY site, window_end").fetchall()
    assert Counter(w[0] for w in windows) == {s: WINDOWS_PER_SITE for s in
                                               ("changle-dc1", "anxi-dc1", "xiamen-dc1")}
    meters = counters(conn, load_catalog())
    with_pue = [w for w in windows if w[3] is not None]
    assert len(with_pue) >= 0.97 * len(windows), [w for w in windows if w[3] is None][:5]
    for site, start, end, pue, rolling, _ in with_pue:
        expected = energy(meters[site]["facility"], start, end) / energy(meters[site]["it"], start, end)
        assert pue == pytest.approx(expected, abs=1e-6), (site, end)
        if rolling is not None:
            begin = end - timedelta(minutes=15)
            expected = (energy(meters[site]["facility"], begin, end)
                        / energy(meters[site]["it"], begin, end))
            assert rolling == pytest.approx(expected, abs=1e-6), (site, end)
    assert sum(w[4] is not None for w in windows) > 3 * (WINDOWS_PER_SITE - 20)

    events = conn.execute(
        "SELECT site, state, at, notify, notified_at IS NOT NULL, notify_errors "
        "FROM alert_events ORDER BY at").fetchall()
    assert [(e[0], e[1]) for e in events] == [
        ("changle-dc1", "pending"), ("changle-dc1", "firing"), ("changle-dc1", "resolved")]
    pending, firing, resolved = (e[2] for e in events)
    assert firing - pending == timedelta(minutes=5)
    assert FAULT.start < pending < firing < FAULT.end < resolved
    assert [e[3:] for e in events] == [(False, False, None), (True, True, None), (True, True, None)]
    assert [(h["site"], h["state"]) for h in Webhook.received] == [
        ("changle-dc1", "firing"), ("changle-dc1", "resolved")]
    wait_for(lambda: len(alerts_on_mqtt) == 2, 10, "alerts on MQTT")
    assert [t for t, _ in alerts_on_mqtt] == ["fj/alerts/warning/changle-dc1/pue-above-target"] * 2
    assert [m["state"] for _, m in alerts_on_mqtt] == ["firing", "resolved"]
