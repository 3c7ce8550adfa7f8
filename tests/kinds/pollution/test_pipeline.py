"""Pollution monitors over real TCP, Mosquitto, Tansu and PostgreSQL: the simulator speaks
HJ 212 to ``fjsense hj212``; an hour of real-time packets gives hourly averages equal to an
independent computation from the stored readings; bad packets are refused and dead-lettered
while the connection stays usable; a stuck analyzer raises the tamper sign once; a
calibration raises no exceedance."""

from __future__ import annotations

import socket
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app.processes import wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.registry import registry
from fjsense.settings import Settings
from kinds.buoy.simulator import Episode
from kinds.pollution.hj212 import frame, unframe
from kinds.pollution.simulator import PollutionScenario, generate
from simulators.publisher import DevicePublisher
from tests.running import count, pipeline

pytestmark = pytest.mark.integration

CATALOG = load_catalog()
LIANBAN = "350104LBWS000000000001"
JIANGYIN = "350181JYWS000000000001"
POWER = "350182HNDC000000000001"
IDLE = 5.0  # hj212.idle_seconds here: a half-open socket is closed this soon
SILENCE = 10.0  # pollution.close_after_silence_seconds here: a silent point's hour closes


@pytest.fixture(scope="module")
def pollution(module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[Settings, psycopg.Connection]]:
    settings = Settings(**{**module_settings.model_dump(),
                           "hj212": {**module_settings.hj212.model_dump(),  # type: ignore[attr-defined]
                                     "idle_seconds": IDLE},
                           "pollution": {"close_after_silence_seconds": SILENCE}})
    with pipeline(settings, tmp_path_factory.mktemp("pollution"), also=("hj212",)) as conn:
        yield settings, conn


def scenario(settings: Settings, mns: list[str], start: datetime, span: timedelta,
             **episodes: list[Episode]) -> PollutionScenario:
    sites = [s for s in CATALOG.sites_of("pollution") if any(d.id in mns for d in s.devices)]
    creds = Credentials(settings)
    return PollutionScenario(sites, start, span, {d.id: creds.device(d.id).password
                                                  for s in sites for d in s.devices},
                             seed=3, **episodes)


def send(settings: Settings, run: PollutionScenario, mns: list[str]) -> int:
    publisher = DevicePublisher(settings)
    try:
        stats = publisher.run(m for m in generate(run) if m.device in mns)
    finally:
        publisher.close()
    return stats.published


def hour_start(hours_back: int) -> datetime:
    now = datetime.now(UTC) - timedelta(hours=hours_back)
    return datetime(now.year, now.month, now.day, now.hour, tzinfo=UTC)


def test_an_hour_over_tcp_averages_as_the_stored_readings_say(pollution) -> None:
    settings, conn = pollution
    start = hour_start(6)
    sent = send(settings, scenario(settings, [LIANBAN], start, timedelta(minutes=70)), [LIANBAN])
    assert sent == 71 + 1  # a packet a minute and the hour's own
    wait_for(lambda: count(conn, "SELECT count(*) FROM pollution_hourly WHERE mn = %s",
                           LIANBAN) >= 5, 90, "the hour's averages")
    rows = conn.execute("SELECT pollutant, value FROM pollution_readings WHERE mn = %s AND "
                        "cn = '2011' AND flag = 'N' AND ts >= %s AND ts < %s",
                        (LIANBAN, start, start + timedelta(hours=1))).fetchall()
    values: dict[str, list[float]] = defaultdict(list)
    for pollutant, value in rows:
        values[pollutant].append(value)
    hourly = {p: (avg, samples, valid, limit, exceeded) for p, avg, samples, valid, limit,
              exceeded in conn.execute(
                  'SELECT pollutant, avg, samples, valid, "limit", exceeded FROM '
                  "pollution_hourly WHERE mn = %s AND hour = %s", (LIANBAN, start))}
    assert set(hourly) == set(values) == {"w01018", "w21003", "w21011", "w01001", "w00000"}
    for pollutant, got in values.items():
        avg, samples, valid, _, _ = hourly[pollutant]
        assert samples == len(got) == 60 and valid
        assert avg == pytest.approx(sum(got) / len(got), rel=1e-12)
    assert hourly["w01018"][3:] == (50.0, False)  # GB 18918-2002 1A
    # the monitor's own hourly packet (CN=2061) is stored as it came, beside the stream's
    assert count(conn, "SELECT count(*) FROM pollution_readings WHERE mn = %s AND cn = '2061'",
                 LIANBAN) == 5
    assert count(conn, "SELECT count(*) FROM pollution_packets WHERE device = %s",
                 LIANBAN) == sent


def connect(settings: Settings) -> socket.socket:
    return socket.create_connection(("127.0.0.1", settings.hj212.port), timeout=10)  # type: ignore[attr-defined]


def read_reply(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        data += conn.recv(4096)
    return data


def test_bad_packets_are_refused_with_their_reason_and_the_connection_goes_on(pollution) -> None:
    settings, conn = pollution
    pw = Credentials(settings).device(JIANGYIN).password
    at = hour_start(8)
    stamp = (at + timedelta(hours=8)).strftime("%Y%m%d%H%M%S")

    def segment(mn: str, password: str, qn: int) -> str:
        return (f"QN={stamp}{qn:03d};ST=32;CN=2011;PW={password};MN={mn};Flag=5;"
                f"CP=&&DataTime={stamp};w01018-Rtd=20.5,w01018-Flag=N&&")

    good = frame(segment(JIANGYIN, pw, 9))
    bad_crc = good[:-6] + (b"0000" if not good.endswith(b"0000\r\n") else b"1111") + b"\r\n"
    wrong_length = b"##9999" + good[6:]
    before = count(conn, "SELECT count(*) FROM dead_letters WHERE stage = 'hj212'")
    with connect(settings) as tcp, connect(settings) as idle, connect(settings) as slow:
        for line in (bad_crc, wrong_length, frame(segment(JIANGYIN, "nope", 1)),
                     frame(segment("350100NOSUCHMN000000001", pw, 2)),
                     b"\x00\xff garbage\r\n", b"#" * 1_048_576 + b"\r\n", good):
            tcp.sendall(line)
        assert unframe(read_reply(tcp)).startswith(f"QN={stamp}009;ST=91;CN=9014;")
        dribbled = frame(segment(JIANGYIN, pw, 8).replace(stamp + ";", stamp[:-2] + "30;", 1))
        for k in range(0, len(dribbled), 7):  # a slow sender: 7 bytes at a time
            slow.sendall(dribbled[k:k + 7])
            time.sleep(0.01)
        assert unframe(read_reply(slow)).startswith(f"QN={stamp}008;ST=91;CN=9014;")
        idle.settimeout(3 * IDLE)
        assert idle.recv(1) == b""  # said nothing: closed after hj212.idle_seconds
    reasons = lambda: [r for (r,) in conn.execute(
        "SELECT reason FROM dead_letters WHERE stage = 'hj212' ORDER BY received_at")]
    wait_for(lambda: len(reasons()) - before == 6, 30, "six dead letters", reasons)
    got = reasons()[before:]
    assert got[0].startswith("CRC ") and "does not match" in got[0]
    assert got[1] == "length says 9999 bytes, the data segment has " + str(len(good) - 12)
    assert got[2] == f"wrong PW for MN {JIANGYIN}"
    assert got[3] == "unknown MN '350100NOSUCHMN000000001': not a monitoring point of the catalog"
    assert got[4] == "packet does not start with ##"
    assert got[5].startswith("line longer than 16384 bytes")
    wait_for(lambda: count(conn, "SELECT count(*) FROM pollution_readings WHERE mn = %s AND "
                           "ts IN (%s, %s)", JIANGYIN, at, at + timedelta(seconds=30)) == 2,
             30, "the good packets stored")


def test_a_stuck_analyzer_raises_the_tamper_sign_once(pollution) -> None:
    settings, conn = pollution
    start = hour_start(5)
    run = scenario(settings, [JIANGYIN], start, timedelta(hours=3),
                   stuck=[Episode(JIANGYIN, 0.1, 0.9)])
    send(settings, run, [JIANGYIN])

    def events() -> list[str]:
        return [s for (s,) in conn.execute(
            "SELECT state FROM alert_events WHERE rule = 'pollution-tamper-stuck' AND "
            "group_key = %s AND state <> 'pending' ORDER BY at", (JIANGYIN,))]

    wait_for(lambda: events() == ["firing", "resolved"], 60, "the stuck sign", events)
    fired = conn.execute("SELECT at, value FROM alert_events WHERE rule = "
                         "'pollution-tamper-stuck' AND state = 'firing'").fetchone()
    stuck_from = start + timedelta(hours=0.3)
    assert abs((fired[0] - stuck_from).total_seconds() - 7200) <= 180  # 2 h after it stuck


def test_a_calibration_inhibits_exceedance_instead_of_raising_it(pollution) -> None:
    settings, conn = pollution
    start = hour_start(4)
    run = scenario(settings, [POWER], start, timedelta(hours=2, minutes=10),
                   calibration=[Episode(POWER, 0.0, 0.5)])
    send(settings, run, [POWER])
    wait_for(lambda: count(conn, "SELECT count(*) FROM pollution_hourly WHERE mn = %s AND "
                           "hour >= %s", POWER, start) >= 12, 90, "two hours averaged")
    first = conn.execute('SELECT pollutant, samples, flagged, qc FROM pollution_hourly WHERE '
                         "mn = %s AND hour = %s AND pollutant = 'a21026'", (POWER, start)
                         ).fetchone()
    assert first[2] == 60 and first[3] == 3  # the hour under calibration, its time counted
    assert count(conn, "SELECT count(*) FROM alert_events WHERE rule = "
                 "'pollution-hourly-exceeded' AND group_key = %s", POWER) == 0
    wait_for(lambda: count(conn, "SELECT count(*) FROM alert_events WHERE rule = "
                           "'pollution-maintenance' AND group_key = %s AND state = 'firing'",
                           POWER) == 1, 30, "the calibration recorded once")


def test_every_pollution_panel_query_runs_as_the_read_only_role(pollution) -> None:
    settings, _ = pollution
    board = next(d for d in all_dashboards(settings) if d.uid == "fjsense-pollution")
    end = datetime.now(UTC)
    points = [d.id for _, d in CATALOG.devices("pollution")]
    with psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True) as conn:
        for panel in board.panels:
            cur = conn.execute(expand(panel.sql, end - timedelta(hours=9), end, "5m",
                                      {"mn": points}))
            assert tuple(c.name for c in cur.description) == panel.columns, panel.title
            assert cur.fetchall(), f"no rows for panel {panel.title!r}"


def test_every_kinds_live_view_runs_as_the_read_only_role(pollution) -> None:
    """What ``fjsense demo`` shows: each kind's query, with as many columns as headings."""
    settings, _ = pollution
    with psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True) as conn:
        for kind in registry(settings.plugins).values():
            if kind.live_view is None:
                continue
            cur = conn.execute(kind.live_view.sql,  # type: ignore[arg-type]
                               kind.live_view.parameters(settings))
            assert len(cur.description) == len(kind.live_view.columns), kind.name
            rows = cur.fetchall()
            if kind.name == "pollution":
                assert {r[1] for r in rows} >= {LIANBAN, JIANGYIN, POWER}


def test_a_point_that_falls_silent_has_its_last_hour_closed_and_judged(pollution) -> None:
    """Twenty minutes of real-time data, then nothing: the hour is final once the point has
    been silent for pollution.close_after_silence_seconds, judged not valid (20 of 60
    values), not left open until the point comes back."""
    settings, conn = pollution
    unit2 = "350182HNDC000000000002"
    start = hour_start(12)
    send(settings, scenario(settings, [unit2], start, timedelta(minutes=19)), [unit2])
    query = "SELECT count(*) FROM pollution_hourly WHERE mn = %s AND hour = %s"
    assert count(conn, query, unit2, start) == 0  # the hour is open
    wait_for(lambda: count(conn, query, unit2, start) > 0, SILENCE + 60,
             "the silent point's hour")
    rows = conn.execute("SELECT pollutant, samples, expected, valid, exceeded FROM "
                        "pollution_hourly WHERE mn = %s AND hour = %s", (unit2, start)).fetchall()
    assert {p for p, *_ in rows} >= {"a21026", "a21002", "a34013"}
    assert all((samples, expected, valid, exceeded) == (20, 60, False, False)
               for _, samples, expected, valid, exceeded in rows)
