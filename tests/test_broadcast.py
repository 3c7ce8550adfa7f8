"""The broadcast loop end to end on the real servers: a surge at Xiamen's tide gauge goes
through the bridge, Kafka, the rule engine and PostgreSQL to `fjsense notify`, which reaches
the broadcast points near the station over Mosquitto (the shipped `coast` route). A point that
acknowledges hears it once; a silent one hears it again every repeat until the alert resolves,
and raises broadcast-point-silent; points elsewhere hear nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import psycopg
import pytest

from app.processes import Components, wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from sinks.broadcast import distance_km, points_for
from sinks.migrate import bootstrap
from simulators.broadcast_points import Heard, SimulatedPoints

pytestmark = pytest.mark.integration

RULES = """
shipped: false  # this file's rules; no routes: the shipped ones (coast, default)
rules:
  - {name: xiamen-high-water, source: fj.raw.tide, metric: level_m, above: 7.8, clear: 7.5,
     severity: yellow, labels: {team: tide, broadcast: coast},
     annotations: {summary: "High water at {name}: {value:.2f} m",
                   summary_zh: "{name}高潮位{value:.2f}米"}}
  - {name: broadcast-point-silent, source: fj.broadcast.status, metric: unacked_s,
     group_by: device, above: ${broadcast.silent_after_seconds}, clear: 1,
     labels: {team: coast}, annotations: {summary: "Broadcast point {group} silent"}}
"""
ACKS, SILENT = "xiamen-gaoqi-port", "xiamen-zengcuoan-beach"


@dataclass
class Loop:
    settings: Settings
    parts: Components
    conn: psycopg.Connection
    heard: list[Heard] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def heard_by(self, point: str) -> list[dict]:
        with self.lock:
            return [h.payload for h in self.heard if h.point.id == point]


@pytest.fixture(scope="module")
def loop(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    folder = tmp_path_factory.mktemp("broadcast")
    (folder / "rules.yaml").write_text(RULES)
    settings = module_settings.model_copy(update={
        "alerts": module_settings.alerts.model_copy(update={
            "rules_file": folder / "rules.yaml", "notify_poll_seconds": 0.2}),
        "broadcast": module_settings.broadcast.model_copy(update={
            "repeat_seconds": 1.0, "report_seconds": 1.0, "silent_after_seconds": 4.0})})
    bootstrap(settings)
    LocalStack(settings).refresh_mqtt_auth()  # the points' logins and their ACL
    parts = Components(settings, folder / "logs")
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)
    state = Loop(settings, parts, conn)

    def heard(h: Heard) -> None:
        with state.lock:
            state.heard.append(h)

    points = SimulatedPoints(settings, catalog_of(settings).broadcast_points, heard, [SILENT])
    try:
        assert points.wait_subscribed()
        for name in ("bridge", "worker", "sink", "notify"):
            parts.start(name)
        for name in ("bridge", "worker", "notify"):
            parts.wait_ready(name)
        yield state
    finally:
        points.close()
        codes = parts.stop_all()
        conn.close()
    assert codes == {"bridge": 0, "worker": 0, "sink": 0, "notify": 0}


def publish_level(settings: Settings, seq: int, level_m: float) -> None:
    login = Credentials(settings).device("xiamen-tg1")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(login.username, login.password)
    client.connect("127.0.0.1", settings.mqtt.port)
    client.loop_start()
    body = {"device": "xiamen-tg1", "seq": seq, "ts": datetime.now(UTC).isoformat(),
            "level_m": level_m}
    client.publish("fj/tide/xiamen-tide/xiamen-tg1", json.dumps(body), qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def test_points_near_a_station_or_in_its_district_hear_its_alerts():
    catalog = catalog_of(Settings())
    # Xiamen's gauge: Gaoqi is 11 km off (Huli), Zengcuo'an 6 km (Siming, its own district);
    # by hand: 0.091° of latitude is 10.12 km, 0.043° of longitude at 24.5° N is 4.35 km
    xiamen = catalog.site("xiamen-tide")
    assert distance_km(xiamen.lat, xiamen.lon, 24.541, 118.113) == pytest.approx(11.01, abs=0.02)
    assert distance_km(0, 0, 0, 180) == pytest.approx(20015.1, abs=0.1)  # half the equator
    event = {"site": "xiamen-tide", "group_by": "site", "group_key": "xiamen-tide"}
    assert [p.id for p in points_for(catalog, [event], 30.0)] == [ACKS, SILENT]
    assert [p.id for p in points_for(catalog, [event], 1.0)] == [SILENT]  # district only
    # a district roll-up reaches its district's points; a group with no place reaches none
    assert [p.id for p in points_for(catalog, [{"group_by": "district", "group_key": "pingtan",
                                                "site": None}], 1.0)] == [
        "pingtan-longfengtou-beach", "pingtan-suao-port"]
    assert points_for(catalog, [{"group_by": "region", "group_key": "xiamen"}], 30.0) == []


def test_a_surge_reaches_its_points_and_is_repeated_until_acknowledged(loop: Loop):
    publish_level(loop.settings, 1, 8.12)
    wait_for(lambda: len(loop.heard_by(SILENT)) >= 4, 60, "the silent point to hear 4 repeats",
             lambda: loop.parts.log("notify")[-2000:])
    [heard] = loop.heard_by(ACKS)  # it acknowledged: once
    rows = {target: (ident, attempts, acked) for target, ident, attempts, acked in loop.conn.execute(
        "SELECT target, id, attempts, acked_at IS NOT NULL FROM alert_notifications "
        "WHERE receiver = 'broadcast' AND route = 'coast'")}
    assert set(rows) == {ACKS, SILENT}  # nobody else is within 30 km or in those districts
    assert rows[ACKS][1:] == (1, True)
    name = catalog_of(loop.settings).site("xiamen-tide").name
    ts = datetime.fromisoformat(heard["ts"])
    assert heard == {"alert_id": rows[ACKS][0], "severity": "yellow", "colour": "yellow",
                     "text": f"黄色预警。{name}高潮位8.12米。请注意海上和岸边安全。",
                     "lang": "zh", "ts": heard["ts"],
                     "expires": (ts + timedelta(hours=1)).isoformat()}
    assert abs((ts - datetime.now(UTC)).total_seconds()) < 60
    repeats = loop.heard_by(SILENT)
    assert {p["alert_id"] for p in repeats} == {rows[SILENT][0]}  # the same broadcast again
    assert all(p["text"] == heard["text"] for p in repeats)
    # the silent point is on the dashboard's table and raises broadcast-point-silent
    wait_for(lambda: loop.conn.execute(
        "SELECT count(*) FROM alert_events WHERE rule = 'broadcast-point-silent' AND "
        "state = 'firing'").fetchone()[0] == 1, 60, "broadcast-point-silent to fire")
    assert loop.conn.execute("SELECT group_key FROM alert_events WHERE rule = "
                             "'broadcast-point-silent'").fetchall() == [(SILENT,)]
    status = dict(loop.conn.execute("SELECT device, waiting FROM broadcast_status").fetchall())
    assert len(status) == 11 and status[SILENT] == 1 and status[ACKS] == 0
    board = next(d for d in all_dashboards(loop.settings) if d.uid == "fjsense-alerts")
    now = datetime.now(UTC)
    with psycopg.connect(Credentials(loop.settings).dsn("reader")) as reader:
        rows = reader.execute(expand(board.panels[-1].sql, now - timedelta(hours=1), now,
                                     "1m")).fetchall()
    assert [r[1:3] for r in rows[:2]] == [(SILENT, "siming"), (ACKS, "huli")]
    assert rows[0][3] >= 4 and rows[0][4:] == (1, 1, 0) and rows[1][3:] == (0, 0, 1, 1)
    # the surge ends: one all-clear to each point, and the repeats stop
    publish_level(loop.settings, 2, 7.20)
    wait_for(lambda: any(p["text"].startswith("预警解除") for p in loop.heard_by(ACKS)), 60,
             "the all-clear")
    wait_for(lambda: any(p["text"].startswith("预警解除") for p in loop.heard_by(SILENT)), 60,
             "the all-clear at the silent point")
    wait_for(lambda: loop.conn.execute(
        "SELECT count(*) FROM alert_events WHERE rule = 'broadcast-point-silent' AND "
        "state = 'resolved'").fetchone()[0] == 1, 60, "broadcast-point-silent to resolve")
    before = len(loop.heard_by(SILENT))
    threading.Event().wait(3)  # three repeat periods
    assert len(loop.heard_by(SILENT)) == before
    assert [p["text"] for p in loop.heard_by(ACKS)][1:] == [f"预警解除。{name}高潮位7.20米。"]
    others = {h.point.id for h in loop.heard} - {ACKS, SILENT}
    assert others == set()
