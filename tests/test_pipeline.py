"""The acceptance run: 3 sites × 2 simulated hours through real Mosquitto, Tansu, PostgreSQL.

Meters publish JSON arrays of 1–50 readings. Duplicates, reordering, dropouts, malformed
payloads, a counter reset and a chiller fault are injected; the worker and the sink are SIGKILLed mid-run and restarted. Afterwards every valid
(device, seq) is stored exactly once, every malformed payload is a dead letter, PUE equals an
independent computation from the stored counters, and the alert went pending → firing →
resolved once, for the faulted site only, notified once per transition.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import paho.mqtt.client as mqtt
import psycopg
import pytest
from standardwebhooks import Webhook as StandardWebhook

from app.processes import Components, wait_for
from dashboards.alerting import alert_provisioning
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.power.simulator import (
    CoolingFault,
    CounterReset,
    PowerScenario,
    generate,
    scenario_sites,
)
from simulators.faults import Faults
from simulators.messages import arrays
from simulators.publisher import DevicePublisher, PublishStats
from sinks.migrate import bootstrap
from sinks.receivers import signature, standard_secret
from tests.reference_pue import counters, energy

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 10, 18, 0, tzinfo=UTC)  # 02:00 in Fuzhou, January: PUE near 1.2
FAULT = CoolingFault("changle-dc1", START + timedelta(minutes=30), START + timedelta(minutes=70), 3.0)
RESET = CounterReset("anxi-dc1-m02", START + timedelta(minutes=50))
WINDOWS_PER_SITE = 118  # 2 h of 1-minute windows, the last 2 minutes still within lateness
SITES = ("changle-dc1", "anxi-dc1", "xiamen-dc1")
# two live meters of a fourth site whose clocks are off: seconds their clocks run ahead
CLOCKS = {"mawei-dc1-m03": -600.0, "mawei-dc1-m01": 30.0}


SECRET = "webhook-test-secret"


class Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []
    verified: list[str] = []  # ids whose Standard Webhooks signature verified

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["X-Fjsense-Signature"] == signature(SECRET, body)  # deprecated
        Webhook.verified.append(StandardWebhook(standard_secret(SECRET)).verify(
            body, dict(self.headers))["id"])  # raises on a bad or stale signature
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


@pytest.fixture(scope="module")
def alerts_on_mqtt(module_settings: Settings) -> Iterator[list[tuple[str, dict]]]:
    got: list[tuple[str, dict]] = []
    login = Credentials(module_settings).mqtt_service("notifier")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(login.username, login.password)
    # a retained message of an earlier module's notifier (the broker is the session's) comes
    # with the retain flag on subscribing; this run's come live, without it
    client.on_message = lambda c, u, m: None if m.retain else got.append(
        (m.topic, json.loads(m.payload)))
    client.connect("127.0.0.1", module_settings.mqtt.port)
    client.subscribe(f"{module_settings.alerts.mqtt_topic_prefix}/#", qos=1)
    client.loop_start()
    yield got
    client.disconnect()
    client.loop_stop()


def count(conn: psycopg.Connection, query: str) -> int:
    return conn.execute(query).fetchone()[0]  # type: ignore[index]


def publish_with_wrong_clocks(settings: Settings, messages: int = 6) -> None:
    """The meters of ``CLOCKS`` publish live, each stamping its readings with its own clock."""
    catalog = load_catalog()
    clients = {}
    for device in CLOCKS:
        login = Credentials(settings).device(device)
        clients[device] = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        clients[device].username_pw_set(login.username, login.password)
        clients[device].connect("127.0.0.1", settings.mqtt.port)
        clients[device].loop_start()
    try:
        for n in range(messages):
            for device, ahead in CLOCKS.items():
                site, spec = catalog.device(device)  # type: ignore[misc]
                stamp = datetime.now(UTC) + timedelta(seconds=ahead)
                body = {"device": device, "seq": n + 1, "ts": stamp.isoformat(),
                        "circuit": spec.spec.circuit, "kw": 500.0, "kwh": 10_000.0 + n}
                clients[device].publish(f"fj/power/{site.id}/{device}", json.dumps(body),
                                        qos=1).wait_for_publish(10)
            time.sleep(0.3)
    finally:
        for client in clients.values():
            client.disconnect()
            client.loop_stop()


@dataclass
class Run:
    stats: PublishStats
    conn: psycopg.Connection
    settings: Settings
    parts: Components


@pytest.fixture(scope="module")
def run(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory, webhook: str,
        alerts_on_mqtt: list) -> Iterator[Run]:
    settings = module_settings
    bootstrap(settings)
    parts = Components(settings, tmp_path_factory.mktemp("logs"),
                       FJSENSE_ALERTS__WEBHOOK_URL=webhook, FJSENSE_ALERTS__WEBHOOK_SECRET=SECRET,
                       FJSENSE_ALERTS__GROUP_WAIT_SECONDS="0",
                       FJSENSE_ALERTS__GROUP_INTERVAL_SECONDS="0",
                       # device clocks reported every second, judged for 3 s, not 10 min
                       FJSENSE_INGEST__CLOCK_REPORT_SECONDS="1",
                       FJSENSE_INGEST__CLOCK_SKEW_FOR_SECONDS="3")
    for name in ("bridge", "worker", "sink", "notify"):
        parts.start(name)
    parts.wait_ready("bridge")
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)
    scenario = PowerScenario(scenario_sites(load_catalog(), 3), START, timedelta(hours=2),
                             seed=7, cooling_faults=[FAULT], counter_resets=[RESET])
    faults = Faults(dropout=0.01, duplicate=0.03, reorder=0.05, malformed=0.01, seed=7)
    publisher = DevicePublisher(settings)
    try:
        messages = list(arrays(faults.apply(generate(scenario)), 1, 50, seed=7))
        assert max(len(m.seqs) for m in messages) == 50
        half = len(messages) // 2
        publisher.run(messages[:half])
        wait_for(lambda: count(conn, "SELECT count(*) FROM pue_windows") > 20, 90,
                 "the first PUE windows")
        parts.kill("worker")
        parts.kill("sink")
        stats = publisher.run(messages[half:])  # readings pile up in Kafka meanwhile
        parts.start("worker")
        parts.start("sink")
        publish_with_wrong_clocks(settings)
        progress = ("SELECT (SELECT count(*) FROM pue_windows WHERE site <> 'mawei-dc1'),"
                    " (SELECT count(*) FROM power_readings WHERE site <> 'mawei-dc1'),"
                    " (SELECT coalesce(sum(jsonb_array_length(events)), 0) FROM"
                    " alert_notifications WHERE receiver = 'webhook' AND delivered_at IS NOT NULL)")
        target = (3 * WINDOWS_PER_SITE, len(stats.valid), 3)  # PUE firing, resolved; a clock
        wait_for(lambda: all(a >= b for a, b in zip(conn.execute(progress).fetchone(), target)),
                 300, f"the whole run to be stored {target}",
                 lambda: (conn.execute(progress).fetchone(), conn.execute(
                     "SELECT site, count(*), max(window_end) FROM pue_windows GROUP BY 1"
                 ).fetchall(), parts.health("worker"), parts.log("worker")[-3000:]))
        yield Run(stats, conn, settings, parts)
    finally:
        publisher.close()
        codes = parts.stop_all()
        conn.close()
    assert codes == {"bridge": 0, "worker": 0, "sink": 0, "notify": 0}, codes


def test_every_valid_reading_stored_exactly_once(run: Run):
    stored = Counter(run.conn.execute(
        "SELECT device, seq FROM power_readings WHERE site <> 'mawei-dc1'").fetchall())
    assert set(stored) == run.stats.valid
    assert max(stored.values()) == 1
    assert len(run.stats.valid) > 6000 and run.stats.readings > len(run.stats.valid) * 1.02
    assert run.stats.published < len(run.stats.valid) / 10  # arrays of 1–50 readings


def test_every_malformed_message_is_a_dead_letter_with_a_reason(run: Run):
    letters = run.conn.execute(
        "SELECT stage, payload, reason FROM dead_letters "
        "WHERE position('mawei-dc1-m03'::bytea in payload) = 0").fetchall()
    # the meter whose clock is 10 minutes behind is late for the PUE windows of its site
    late = run.conn.execute(
        "SELECT DISTINCT stage FROM dead_letters "
        "WHERE position('mawei-dc1-m03'::bytea in payload) > 0").fetchall()
    assert late == [("pue",)]
    assert sorted(bytes(p) for _, p, _ in letters) == sorted(run.stats.malformed)
    assert {stage for stage, _, _ in letters} == {"ingest"}
    assert all(reason for _, _, reason in letters) and len(letters) > 30


def test_stored_pue_equals_independent_computation_from_counters(run: Run):
    windows = run.conn.execute(
        "SELECT site, window_start, window_end, pue, pue_rolling FROM pue_windows "
        "WHERE site <> 'mawei-dc1' ORDER BY site, window_end").fetchall()
    assert Counter(w[0] for w in windows) == {s: WINDOWS_PER_SITE for s in SITES}
    meters = counters(run.conn, load_catalog())
    with_pue = [w for w in windows if w[3] is not None]
    assert len(with_pue) >= 0.97 * len(windows)
    for site, start, end, pue, rolling in with_pue:
        f, it = meters[site]["facility"], meters[site]["it"]
        assert pue == pytest.approx(energy(f, start, end) / energy(it, start, end), abs=1e-6)
        if rolling is not None:
            begin = end - timedelta(minutes=15)
            assert rolling == pytest.approx(energy(f, begin, end) / energy(it, begin, end),
                                            abs=1e-6)
    assert sum(w[4] is not None for w in windows) > 3 * (WINDOWS_PER_SITE - 20)


def test_alert_fires_once_and_resolves_once_for_the_faulted_site(run: Run, alerts_on_mqtt):
    events = run.conn.execute(
        "SELECT rule, group_key, state, at, notify, claimed_at IS NOT NULL, inhibited "
        "FROM alert_events WHERE rule = 'pue-above-target' ORDER BY at").fetchall()
    assert [e[:3] for e in events] == [
        ("pue-above-target", "changle-dc1", "pending"),
        ("pue-above-target", "changle-dc1", "firing"),
        ("pue-above-target", "changle-dc1", "resolved")]
    pending, firing, resolved = (e[3] for e in events)
    assert firing - pending == timedelta(minutes=5)
    assert FAULT.start < pending < firing < FAULT.end < resolved
    assert [e[4:] for e in events] == [(False, False, None), (True, True, None), (True, True, None)]
    # one message per transition, or one for both when the restart's backlog brings them together
    pue = [h for h in Webhook.received if h["alerts"][0]["rule"] == "pue-above-target"]
    assert [(a["group_key"], a["state"]) for h in pue for a in h["alerts"]] == [
        ("changle-dc1", "firing"), ("changle-dc1", "resolved")]
    assert [h["status"] for h in pue] == [h["alerts"][-1]["state"] for h in pue]
    assert Webhook.verified == [h["id"] for h in Webhook.received]
    deliveries = run.conn.execute(
        "SELECT receiver, sum(jsonb_array_length(events)), max(attempts) FROM alert_notifications"
        " WHERE delivered_at IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall()
    assert deliveries == [("log", 3, 1), ("mqtt", 3, 1), ("webhook", 3, 1)]  # and the clock
    wait_for(lambda: len(alerts_on_mqtt) == 3, 30, "alerts on MQTT", lambda: alerts_on_mqtt)
    on_pue = [(t, m["state"]) for t, m in alerts_on_mqtt if t.endswith("/pue-above-target")]
    assert on_pue == [("fj/alerts/warning/changle-dc1/pue-above-target", "firing"),
                      ("fj/alerts/warning/changle-dc1/pue-above-target", "resolved")]


def test_device_clocks_are_estimated_within_2s_and_only_the_one_10_minutes_behind_alerts(
        run: Run):
    clocks = dict(run.conn.execute(
        "SELECT device, offset_s FROM device_clock WHERE site = 'mawei-dc1'").fetchall())
    assert clocks.keys() == CLOCKS.keys()
    for device, ahead in CLOCKS.items():
        assert abs(clocks[device] - ahead) < 2, (device, clocks[device])
    # the replayed meters' readings are hours old but came in minutes: catching up, no clock
    assert count(run.conn, "SELECT count(*) FROM device_clock") == 2
    events = run.conn.execute(
        "SELECT group_key, state, value, labels->>'team' FROM alert_events "
        "WHERE rule = 'device-clock-skew' ORDER BY at, state DESC").fetchall()
    assert [e[:2] for e in events] == [("mawei-dc1-m03", "pending"), ("mawei-dc1-m03", "firing")]
    assert abs(events[1][2] + 600) < 2 and events[1][3] == "operations"
    [hook] = [h for h in Webhook.received if h["alerts"][0]["rule"] == "device-clock-skew"]
    assert [(a["group_key"], a["state"]) for a in hook["alerts"]] == [("mawei-dc1-m03", "firing")]


@pytest.mark.parametrize("dashboard", ["fjsense-datacenter", "fjsense-pipeline"])
def test_every_panel_query_runs_as_the_read_only_role(run: Run, dashboard: str):
    reader = Credentials(run.settings).dsn("reader")
    board = {d.uid: d for d in all_dashboards(run.settings)}[dashboard]
    sites = ["changle-dc1", "anxi-dc1", "xiamen-dc1"]
    # the pipeline's rows carry event times of January 2026 and arrival times of today
    start = min(START, datetime.now(UTC) - timedelta(hours=1))
    with psycopg.connect(reader, autocommit=True) as conn:
        for panel in board.panels:
            sql = expand(panel.sql, start, datetime.now(UTC) + timedelta(minutes=1), "1m",
                         {"site": sites})
            cur = conn.execute(sql)
            assert tuple(c.name for c in cur.description) == panel.columns, panel.title
            assert cur.fetchall(), f"no rows for panel {panel.title!r}"
        for annotation in board.annotations:
            sql = expand(annotation.sql, start, datetime.now(UTC) + timedelta(minutes=1), "1m")
            cur = conn.execute(sql)
            assert tuple(c.name for c in cur.description) == annotation.columns
            assert cur.fetchall(), f"no {annotation.name} on {dashboard}"
        for rule in alert_provisioning(run.settings)["groups"][0]["rules"]:
            cur = conn.execute(rule["data"][0]["model"]["rawSql"])  # Grafana's own alert rule
            assert tuple(c.name for c in cur.description) == ("metric", "value")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM power_readings")


def test_every_component_serves_its_health_counters_as_prometheus_metrics(run: Run):
    from prometheus_client.parser import text_string_to_metric_families

    def metrics(name: str) -> dict[tuple[str, tuple], float]:
        port = run.settings.health_port(name)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    bridge, sink, notify = (run.parts.health(n) or {} for n in ("bridge", "sink", "notify"))
    got = metrics("bridge")
    assert got[("fjsense_bridge_forwarded_total", ())] == bridge["stats"]["forwarded"] > 0
    got = metrics("sink")
    assert got[("fjsense_sink_rows_stored_total", (("table", "power_readings"),))] == (
        sink["rows_stored"]["power_readings"]) > 0  # since its restart
    got = metrics("notify")
    assert got[("fjsense_notify_deliveries_total", (("receiver", "webhook"),))] == (
        notify["delivered"]["webhook"]) >= 1
    got = metrics("worker")
    assert got[("fjsense_ready", (("component", "worker"),))] == 1.0
    assert got[("fjsense_worker_events_total", ())] > 0
