"""The alert engine end to end against real servers: readings published by the meters over
MQTT, through the bridge, the worker's rules, the sink, and `fjsense notify` to a real webhook
receiver and a real SMTP server (aiosmtpd).

Event times lie three hours back, so the stream is not live and event time moves only with the
readings: every transition below is exact. Readings go in phases, each waited for, so that the
timer's transitions (``for``, ``keep_firing_for``, no data) are judged where they belong.
"""

from __future__ import annotations

import email
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import psycopg
import pytest
from aiosmtpd.controller import Controller

from app.processes import Components, settings_env, wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import catalog_of, load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from fjsense.stack.service import free_port
from sinks.migrate import bootstrap
from sinks.receivers import signature
from tests.robots import Robots

pytestmark = pytest.mark.integration

SECRET = "alerting-test-secret"
RULES = """
shipped: false  # this file's rules only, none of the kinds'
rules:
  - {name: kw-high, source: fj.raw.power, metric: kw, group_by: device, above: 900, clear: 800,
     severity: critical, scope: {stations: [changle-dc1]},
     annotations: {summary: "{group} at {name} draws {value} kW (limit {threshold})",
                   summary_zh: "{name}电表{group}功率{value}千瓦（限值{threshold}）"}}
  - {name: kw-sustained, source: fj.raw.power, metric: kw, group_by: device, above: 900,
     for: 60s, keep_firing_for: 60s, severity: critical, scope: {stations: [anxi-dc1]}}
  - {name: meter-silent, source: fj.raw.power, kind: nodata, group_by: device,
     expected_seconds: 10, factor: 3, severity: critical, scope: {stations: [xiamen-dc1]}}
  - {name: kw-late, source: fj.raw.power, metric: kw, group_by: device, above: 900,
     lateness: 30s, severity: critical, scope: {stations: [mawei-dc1]}}
  - {name: kw-band, source: fj.raw.power, kind: range, metric: kw, lo: 100, hi: 900,
     clear_margin: 50, group_by: device, scope: {stations: [putian-dc1]}}
  - {name: kw-ramp, source: fj.raw.power, kind: rate, metric: kw, above: 20, group_by: device,
     scope: {stations: [putian-dc1]}}
  - {name: kw-over, source: fj.raw.power, metric: kw, above: 900, clear: 800, for: 30s,
     stale_after: 20s, severity: critical, scope: {stations: [putian-dc2, putian-dc3]}}
  - {name: putian-over, source: fj.alerts, kind: rollup, of: kw-over, group_by: region,
     min_firing: 2, severity: critical,
     annotations: {summary: "{firing} of {of} sites in {name} over 900 kW"}}
routes:
  - {match: {severity: critical}, receivers: [webhook, email, dingtalk, wecom, feishu],
     group_by: [rule, group_key],
     group_wait: 0s, group_interval: 0s, repeat_interval: 4s}
  - {receivers: [log]}
receivers:
  wecom: {lang: en}
  email:
    templates: {email_subject: "fjsense {{ alert.rule }} {{ status }} at {{ alert.station }}"}
"""
PUTIAN = """sites:
""" + "".join(f"""  - {{id: putian-dc{n}, name: Putian datacenter {n}, kind: power, region: putian,
     lat: 25.4, lon: 119.0, it_design_kw: 1000,
     devices: [{{id: putian-dc{n}-m01, circuit: facility, rated_kw: 2000}}]}}
""" for n in (1, 2, 3))
CATALOG = load_catalog()
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)


class WebhookServer:
    """A real HTTP receiver that checks signatures, counts what it got, and can go down."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.server: ThreadingHTTPServer | None = None
        self.up()

    def up(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.headers["X-Fjsense-Signature"] == signature(SECRET, body)
                if ok:
                    outer.received.append(json.loads(body))
                    outer.keys.append(self.headers["Idempotency-Key"])
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
        self.server = None


class Mailbox:
    """aiosmtpd handler: keeps each message, or refuses with 451 while ``refusing``."""

    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.refusing = False

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            return "451 4.3.0 mailbox busy, try again later"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class Meters:
    """The meters themselves, each publishing its own readings over its own login."""

    settings: Settings
    clients: dict[str, mqtt.Client] = field(default_factory=dict)
    seqs: Counter[str] = field(default_factory=Counter)

    def send(self, device: str, second: float, kw: float) -> None:
        site, spec = catalog_of(self.settings).device(device)  # type: ignore[misc]
        if device not in self.clients:
            login = Credentials(self.settings).device(device)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.username_pw_set(login.username, login.password)
            client.connect("127.0.0.1", self.settings.mqtt.port)
            client.loop_start()
            self.clients[device] = client
        self.seqs[device] += 1
        body = {"device": device, "seq": self.seqs[device],
                "ts": (BASE + timedelta(seconds=second)).isoformat(),
                "circuit": spec.spec.circuit, "kw": kw, "kwh": 1000.0 + second}
        self.clients[device].publish(f"fj/power/{site.id}/{device}", json.dumps(body),
                                     qos=1).wait_for_publish(10)

    def close(self) -> None:
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


@dataclass
class Alerting:
    settings: Settings
    parts: Components
    conn: psycopg.Connection
    meters: Meters
    webhook: WebhookServer
    mailbox: Mailbox
    robots: Robots

    def transitions(self) -> list[tuple[str, str, str, float]]:
        return [(r, g, s, (at - BASE).total_seconds()) for r, g, s, at in self.conn.execute(
            "SELECT rule, group_key, state, at FROM alert_events ORDER BY rule, group_key, at")]

    def wait_transitions(self, count: int) -> None:
        wait_for(lambda: len(self.transitions()) >= count, 60, f"{count} transitions",
                 lambda: (self.transitions(), self.parts.log("worker")[-1500:]))


@pytest.fixture(scope="module")
def alerting(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Alerting]:
    folder = tmp_path_factory.mktemp("alerting")
    rules = folder / "rules.yaml"
    rules.write_text(RULES)
    (folder / "stations.yaml").write_text(PUTIAN)  # an operator's sites beside the shipped
    webhook, mailbox, robots = WebhookServer(), Mailbox(), Robots()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    settings = Settings(**{**module_settings.model_dump(), "alerts": {
        **module_settings.alerts.model_dump(), "rules_file": rules,
        "webhook_url": f"http://127.0.0.1:{webhook.port}/hook", "webhook_secret": SECRET,
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "email_to": ["duty@fj.example"],
        "notify_poll_seconds": 0.2, "max_retry_seconds": 5, **robots.urls()},
        "catalog": {"file": folder / "stations.yaml"}})
    bootstrap(settings)
    LocalStack(settings).refresh_mqtt_auth()  # the broker learns Putian's meters
    parts = Components(settings, folder / "logs")
    for name in ("bridge", "worker", "sink", "notify"):
        parts.start(name)
    for name in ("bridge", "worker", "notify"):
        parts.wait_ready(name)
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)
    meters = Meters(settings)
    try:
        yield Alerting(settings, parts, conn, meters, webhook, mailbox, robots)
    finally:
        meters.close()
        codes = parts.stop_all()
        conn.close()
        smtp.stop()
        robots.close()
        if webhook.server is not None:
            webhook.down()
    assert codes == {"bridge": 0, "worker": 0, "sink": 0, "notify": 0}


def fjsense(settings: Settings, *args: str) -> str:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "app.cli", *args],
                          env=settings_env(settings), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def new_alerts(received: list[dict[str, Any]]) -> Counter[tuple[str, str, str, str]]:
    return Counter((a["rule"], a["group_key"], a["state"], a["at"])
                   for message in received if message["reason"] == "new"
                   for a in message["alerts"])


EXPECTED = [  # (rule, group, state, seconds after BASE), as transitions() orders them
    ("kw-high", "changle-dc1-m01", "firing", 10.0),
    ("kw-high", "changle-dc1-m01", "resolved", 40.0),  # 850 at 20 s: between clear and limit
    ("kw-high", "changle-dc1-m01", "firing", 50.0),
    ("kw-high", "changle-dc1-m01", "resolved", 60.0),
    ("kw-high", "changle-dc1-m02", "firing", 0.0),  # silenced
    ("kw-high", "changle-dc1-m02", "resolved", 10.0),  # silenced
    ("kw-late", "mawei-dc1-m01", "firing", -90.0),  # came after -80 s, within the lateness
    ("kw-late", "mawei-dc1-m01", "resolved", -80.0),
    ("kw-sustained", "anxi-dc1-m01", "pending", 0.0),
    ("kw-sustained", "anxi-dc1-m01", "firing", 60.0),  # by the timer: for 60 s
    ("kw-sustained", "anxi-dc1-m01", "resolved", 160.0),  # by the timer: kept 60 s after 100 s
    ("meter-silent", "xiamen-dc1-m01", "firing", 50.0),  # last reading 20 s, 3 × 10 s silent
    ("meter-silent", "xiamen-dc1-m01", "resolved", 180.0),
]
NOTIFIED = {t for t in EXPECTED if t[2] != "pending" and t[1] != "changle-dc1-m02"}


def stored_readings(a: Alerting) -> int:
    return a.conn.execute("SELECT count(*) FROM power_readings").fetchone()[0]  # type: ignore[index]


def test_every_rule_kind_gives_its_exact_transitions_and_each_is_notified_once(
        alerting: Alerting):
    a, m = alerting, alerting.meters
    silence = json.loads(fjsense(
        a.settings, "alerts", "silence", "--match", "rule=kw-high", "--match",
        "device=changle-dc1-m02", "--for", "1h", "--by", "test", "--comment", "maintenance"))
    # Mawei, first (event time only moves forward): -90 s arrives after -80 s (within the
    # 30 s lateness), -95 s after -40 s (beyond it: not judged)
    for second, kw in ((-100, 700), (-80, 700), (-90, 950), (-60, 700), (-40, 700), (-95, 950)):
        m.send("mawei-dc1-m01", second, kw)
    a.wait_transitions(2)
    # Changle flaps around its limit; its m02 is silenced; Anxi breaches for a while; Xiamen's
    # meter reports, then falls silent
    for second in (0, 10, 20):
        m.send("changle-dc1-m01", second, [850, 950, 850][second // 10])
        m.send("changle-dc1-m02", second, [950, 700, 700][second // 10])
        m.send("xiamen-dc1-m01", second, 500)
    m.send("anxi-dc1-m01", 0, 950)
    wait_for(lambda: stored_readings(a) == 6 + 10, 30, "the first readings stored")
    wait_for(lambda: len(a.transitions()) == 2 + 3 + 1, 30, "their transitions",
             a.transitions)
    time.sleep(2)  # every partition's records taken in before event time moves on
    for second, kw in ((30, 950), (40, 790), (50, 950), (60, 700)):
        m.send("changle-dc1-m01", second, kw)
    m.send("anxi-dc1-m01", 30, 950)
    a.wait_transitions(11)
    m.send("anxi-dc1-m01", 100, 700)  # cleared: kept firing another 60 s
    for second in range(100, 200, 10):
        m.send("changle-dc1-m03", second, 300)  # event time passes
    m.send("xiamen-dc1-m01", 180, 500)
    a.wait_transitions(13)
    assert a.transitions() == EXPECTED
    muted = a.conn.execute("SELECT DISTINCT silenced_by FROM alert_events "
                           "WHERE group_key = 'changle-dc1-m02'").fetchall()
    assert muted == [(silence["id"],)]

    def delivered(receiver: str) -> dict[str, list[tuple[str, str, str, float]]]:
        return {ident: [(e["rule"], e["group_key"], e["state"],
                         (datetime.fromisoformat(e["at"]) - BASE).total_seconds())
                        for e in events] for ident, events in a.conn.execute(
            "SELECT id, events FROM alert_notifications WHERE receiver = %s AND reason = 'new' "
            "AND delivered_at IS NOT NULL", [receiver])}

    wait_for(lambda: sum(map(len, delivered("email").values())) == len(NOTIFIED)
             and sum(map(len, delivered("webhook").values())) == len(NOTIFIED), 30,
             "every notification delivered", lambda: a.parts.log("notify")[-2000:])
    for receiver in ("webhook", "email"):
        rows = delivered(receiver)
        assert sorted(t for events in rows.values() for t in events) == sorted(NOTIFIED)
    webhook_new = [k for k, msg in zip(a.webhook.keys, a.webhook.received, strict=True)
                   if msg["reason"] == "new"]
    assert sorted(webhook_new) == sorted(delivered("webhook"))  # each message once
    mail_keys = [mail["X-Fjsense-Idempotency-Key"] for mail in a.mailbox.messages]
    assert sorted(k for k in mail_keys if k in delivered("email")) == sorted(delivered("email"))
    assert len(mail_keys) == len(set(mail_keys))
    # the messengers' robots: each notification once, signed as each service checks
    for robot in ("dingtalk", "wecom", "feishu"):
        wait_for(lambda r=robot: len(a.robots.received[r]) >= len(delivered(r)) > 0, 10,
                 f"{robot} to get its messages")
        ids = [text.rsplit("\nid ", 1)[1] for text in a.robots.received[robot]]
        assert sorted(i for i in ids if i in delivered(robot)) == sorted(delivered(robot))
        assert len(ids) == len(set(ids)) and a.robots.refused[robot] == 0
        assert sum(map(len, delivered(robot).values())) == len(NOTIFIED)
    summary = next(al["summary"] for msg in a.webhook.received for al in msg["alerts"]
                   if al["rule"] == "kw-high" and al["state"] == "firing")
    name = CATALOG.site("changle-dc1").name
    assert summary == f"changle-dc1-m01 at {name} draws 950.0 kW (limit 900.0)"
    # the texts: DingTalk in Chinese (its default), WeCom told English, e-mail's own subject
    ident, at = a.conn.execute(
        "SELECT id, (events->0->>'at')::timestamptz FROM alert_notifications WHERE receiver = "
        "'dingtalk' AND reason = 'new' AND events->0->>'rule' = 'kw-high' AND "
        "events->0->>'group_key' = 'changle-dc1-m01' AND events->0->>'state' = 'firing' "
        "ORDER BY 2 LIMIT 1").fetchone()
    [text] = [t for t in a.robots.received["dingtalk"] if t.endswith(f"\nid {ident}")]
    local = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    head, line, url, _ = text.split("\n")
    assert (head, line) == (f"【告警】{name}",
                            f"告警  {local}  {name}电表changle-dc1-m01功率950.0千瓦（限值900.0）")
    assert url.startswith("http://localhost:3000/d/fjsense-datacenter?viewPanel=")
    assert "&var-site=changle-dc1" in url
    assert any(t.startswith(f"[FIRING] kw-high at {name}\nfiring  {local}  {summary}\n")
               for t in a.robots.received["wecom"])
    subjects = {"".join(m["Subject"].splitlines()) for m in a.mailbox.messages}  # unfolded
    assert f"fjsense kw-high firing at {name}" in subjects
    hook = next(m for m in a.webhook.received if m["alerts"][0]["rule"] == "kw-high")
    assert hook["lang"] == "en" and hook["text"].startswith(f"[FIRING] kw-high at {name}")


def advance(m: Meters, start: int, end: int) -> None:
    """Event time moves on: Changle's cooling meter and Xiamen's meter report every 10 s."""
    for second in range(start, end + 1, 10):
        m.send("changle-dc1-m03", second, 300)
        m.send("xiamen-dc1-m01", second, 500)


def test_receivers_down_for_60s_never_stall_the_stream_and_get_everything_once(
        alerting: Alerting):
    a, m = alerting, alerting.meters
    a.webhook.down()
    a.mailbox.refusing = True
    started = time.monotonic()
    before = len(a.transitions())
    advance(m, 190, 200)
    m.send("changle-dc1-m01", 200, 950)
    m.send("changle-dc1-m01", 210, 700)
    advance(m, 210, 220)
    a.wait_transitions(before + 2)  # the stream goes on while nobody can be told
    errors = dict(a.conn.execute(
        "SELECT receiver, last_error FROM alert_notifications WHERE delivered_at IS NULL"))
    wait_for(lambda: all(dict(a.conn.execute(
        "SELECT receiver, last_error FROM alert_notifications WHERE delivered_at IS NULL "
        "AND last_error IS NOT NULL")).get(r) for r in ("webhook", "email")), 30,
        "both receivers to fail", lambda: errors)
    failing = dict(a.conn.execute("SELECT receiver, last_error FROM alert_notifications "
                                  "WHERE delivered_at IS NULL AND last_error IS NOT NULL"))
    assert "Connection refused" in failing["webhook"]
    assert "451" in failing["email"]
    assert set((a.parts.health("notify") or {}).get("failing", {})) == {"webhook", "email"}
    time.sleep(max(0.0, 60 - (time.monotonic() - started)))
    a.webhook.up()
    a.mailbox.refusing = False
    late = {("kw-high", "changle-dc1-m01", "firing", 200.0),
            ("kw-high", "changle-dc1-m01", "resolved", 210.0)}
    wait_for(lambda: a.conn.execute(
        "SELECT count(*) FROM alert_notifications WHERE delivered_at IS NULL").fetchone()
        == (0,), 60, "the backlog delivered")
    got = new_alerts(a.webhook.received)
    assert {k for k in got if (k[0], k[1], k[2], (datetime.fromisoformat(k[3]) - BASE)
                               .total_seconds()) in late} and max(got.values()) == 1
    keys = [mail["X-Fjsense-Idempotency-Key"] for mail in a.mailbox.messages]
    assert len(keys) == len(set(keys)) and len(a.webhook.keys) == len(set(a.webhook.keys))
    retried = a.conn.execute("SELECT receiver, max(attempts) FROM alert_notifications "
                             "GROUP BY 1 ORDER BY 1").fetchall()
    assert dict(retried)["webhook"] > 1 and dict(retried)["email"] > 1


def test_an_acknowledged_alert_is_not_repeated(alerting: Alerting):
    a, m = alerting, alerting.meters
    advance(m, 230, 300)
    m.send("changle-dc1-m01", 300, 950)  # firing, and it stays so

    def repeats() -> int:
        return sum(1 for msg in a.webhook.received if msg["reason"] == "repeat"
                   for al in msg["alerts"] if al["group_key"] == "changle-dc1-m01"
                   and al["at"] == (BASE + timedelta(seconds=300)).isoformat())

    wait_for(lambda: repeats() >= 1, 30, "a repeat of the firing alert (repeat_interval 4s)")
    out = fjsense(a.settings, "alerts", "ack", "kw-high", "changle-dc1-m01", "--by", "duty",
                  "--comment", "crew on site")
    assert "acknowledged kw-high for changle-dc1-m01" in " ".join(out.split())
    time.sleep(2)  # a repeat already on its way may still land
    after_ack = repeats()
    time.sleep(10)
    assert repeats() == after_ack
    [firing] = [f for f in json.loads(fjsense(a.settings, "alerts", "list", "--json"))
                if f["group_key"] == "changle-dc1-m01"]
    assert (firing["rule"], firing["acked_by"], firing["ack_comment"]) == (
        "kw-high", "duty", "crew on site")
    history = json.loads(fjsense(a.settings, "alerts", "history", "--rule", "kw-sustained",
                                 "--json"))
    assert [(h["state"], h["notified"]) for h in history] == [
        ("resolved", "yes"), ("firing", "yes"), ("pending", "no")]


NEW_RULE = """  - {name: kw-low, source: fj.raw.power, metric: kw, group_by: device, below: 100,
     severity: info, scope: {stations: [changle-dc1]}}
"""


def test_a_bad_rule_file_is_refused_and_the_running_rules_stay(alerting: Alerting):
    a, m = alerting, alerting.meters
    path = a.settings.alerts.rules_file
    assert path is not None
    path.write_text(RULES.replace("source: fj.raw.power, kind: nodata",
                                  "source: fj.raw.nope, kind: nodata"))

    def refusal() -> str | None:
        return (a.parts.health("worker") or {}).get("rules_error")

    wait_for(lambda: refusal() is not None, 30, "the worker to refuse the file")
    assert refusal() == f"{path}:10: rules[2].source: no stream 'fj.raw.nope'; streams: " \
        "fj.alerts, fj.alerts.samples, fj.broadcast.status, fj.deadletter, fj.derived.buoy, " \
        "fj.derived.buoy_obs, " \
        "fj.derived.buoy_quality, fj.derived.cell, fj.derived.coverage, " \
        "fj.derived.coverage_district, fj.derived.coverage_part, fj.derived.pollution, " \
        "fj.derived.pollution_hourly, fj.derived.pollution_point_hour, " \
        "fj.derived.pollution_value, fj.derived.pue, fj.derived.tide, " \
        "fj.derived.tide_high_water, fj.device_clock, fj.raw.buoy, fj.raw.cell, fj.raw.mr, " \
        "fj.raw.pollution, fj.raw.power, fj.raw.tide"
    before = len(a.transitions())
    for second in range(310, 360, 10):  # Xiamen falls silent: the old no-data rule still runs
        m.send("changle-dc1-m03", second, 300)
    a.wait_transitions(before + 1)
    assert ("meter-silent", "xiamen-dc1-m01", "firing", 330.0) in a.transitions()
    path.write_text(RULES.replace("routes:", NEW_RULE + "routes:"))
    wait_for(lambda: (a.parts.health("worker") or {}).get("rules") == RULES.count("name:") + 1, 30,
             "the worker to take the new file", lambda: a.parts.health("worker"))
    assert refusal() is None
    m.send("changle-dc1-m03", 360, 50)
    wait_for(lambda: ("kw-low", "changle-dc1-m03", "firing", 360.0) in a.transitions(), 30,
             "the new rule to fire", a.transitions)


def test_the_alerts_dashboard_runs_as_the_read_only_role(alerting: Alerting):
    board = next(d for d in all_dashboards(alerting.settings) if d.uid == "fjsense-alerts")
    start, end = BASE - timedelta(hours=1), datetime.now(UTC) + timedelta(minutes=1)
    with psycopg.connect(Credentials(alerting.settings).dsn("reader"), autocommit=True) as conn:
        for panel in board.panels:
            cur = conn.execute(expand(panel.sql, start, end, "1m"))
            assert tuple(c.name for c in cur.description) == panel.columns, panel.title
            assert cur.fetchall(), f"no rows for panel {panel.title!r}"
        acked = conn.execute(expand(board.panels[2].sql, start, end, "1m")).fetchall()
        assert [(rule, n) for rule, _, n in acked] == [("kw-high", 1)]


def test_range_rate_stale_inhibition_and_a_region_rollup_through_the_real_servers(
        alerting: Alerting):
    """Putian's sites: one meter leaves its band and ramps; two breach for 30 s, one of them
    silent meanwhile (its firing is the timer's, and inhibited), and the region rolls up."""
    a, m = alerting, alerting.meters

    def putian() -> list[tuple[str, str, str, float, str | None, bool]]:
        return [(r, g, s, (at - BASE).total_seconds(), inhibited, notify)
                for r, g, s, at, inhibited, notify in a.conn.execute(
                    "SELECT rule, group_key, state, at, inhibited, notify FROM alert_events "
                    "WHERE group_key LIKE 'putian%' ORDER BY rule, group_key, at, state")]

    m.send("putian-dc2-m01", 400, 950)
    m.send("putian-dc3-m01", 400, 950)  # and then silent
    for second, kw in ((400, 500), (410, 690), (420, 950), (430, 880), (440, 800), (450, 50),
                       (460, 500), (470, 500)):
        m.send("putian-dc1-m01", second, kw)
        if second > 400:
            m.send("putian-dc2-m01", second, 950)
    wait_for(lambda: len(putian()) >= 13, 60, "Putian's first transitions", putian)
    m.send("putian-dc2-m01", 480, 700)
    # the roll-up takes its stations' transitions in arrival order, and these two come from
    # different partitions of fj.alerts: the second is sent once the first is judged
    wait_for(lambda: len(putian()) >= 15, 60, "Putian-dc2 resolved, and the roll-up", putian)
    m.send("putian-dc3-m01", 490, 700)
    m.send("putian-dc1-m01", 490, 500)
    silent = "station silent for 30s"
    expected = [
        ("kw-band", "putian-dc1-m01", "firing", 420.0, None, True),  # 950 > hi
        ("kw-band", "putian-dc1-m01", "resolved", 440.0, None, True),  # 880: within the margin
        ("kw-band", "putian-dc1-m01", "firing", 450.0, None, True),  # 50 < lo
        ("kw-band", "putian-dc1-m01", "resolved", 460.0, None, True),
        ("kw-over", "putian-dc2", "pending", 400.0, None, False),
        ("kw-over", "putian-dc2", "firing", 430.0, None, True),
        ("kw-over", "putian-dc2", "resolved", 480.0, None, True),
        ("kw-over", "putian-dc3", "pending", 400.0, None, False),
        ("kw-over", "putian-dc3", "firing", 430.0, silent, False),  # the timer's: inhibited
        # its firing was never sent: no all-clear either
        ("kw-over", "putian-dc3", "resolved", 490.0, "its firing was inhibited: never notified",
         False),
        ("kw-ramp", "putian-dc1-m01", "firing", 420.0, None, True),  # 26 kW/s
        ("kw-ramp", "putian-dc1-m01", "resolved", 430.0, None, True),
        ("kw-ramp", "putian-dc1-m01", "firing", 460.0, None, True),  # 45 kW/s
        ("kw-ramp", "putian-dc1-m01", "resolved", 470.0, None, True),
        ("putian-over", "putian", "firing", 430.0, None, True),
        ("putian-over", "putian", "resolved", 480.0, None, True),
    ]
    wait_for(lambda: len(putian()) >= len(expected), 60, "every Putian transition", putian)
    assert putian() == expected
    [summary] = [s for (s,) in a.conn.execute(
        "SELECT summary FROM alert_events WHERE rule = 'putian-over' AND state = 'firing'")]
    assert summary == "2 of 2 sites in Putian over 900 kW"
