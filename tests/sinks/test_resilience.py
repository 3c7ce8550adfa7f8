"""The sink against real Kafka (Tansu) and PostgreSQL: a row the database refuses is a dead
letter and the rest of its batch is stored; a database outage is waited out, not fatal; the
hours of the continuous aggregates it writes into are noted for their refresh."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer

from app.processes import Components, settings_env, wait_for
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from kinds.power.simulator import PowerScenario, generate, scenario_sites
from simulators.messages import arrays
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap
from sinks.refresh import refresh_noted
from tests.reference_pue import counters, energy

pytestmark = pytest.mark.integration


def reading(seq: int, ts: str) -> dict:
    return {"device": "changle-dc1-m01", "seq": seq, "ts": ts, "circuit": "facility",
            "kw": 800.0, "kwh": 1000.0 + seq}


def window(start: datetime) -> dict:
    return {"site": "changle-dc1", "window_start": start.isoformat(),
            "window_end": (start + timedelta(minutes=1)).isoformat(), "facility_kwh": 13.0,
            "it_kwh": 10.0, "cooling_kwh": 2.5, "pue": 1.3, "pue_rolling": None,
            "instant_kw_ratio": None, "reason": None, "rolling_reason": None}


async def refresh_round(dsn: str) -> list:
    """The sink's refresh round (sinks/refresh.py), as the role it runs as."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await refresh_noted(conn)


def test_a_refused_row_is_a_dead_letter_and_the_aggregates_hours_are_noted(settings: Settings,
                                                                           tmp_path: Path):
    """Besides: the sink notes the hours of ``pue_hourly`` it wrote windows into, as the writer
    role, and its refresh round clears them (on plain PostgreSQL the aggregate is a view,
    always current; the refresh itself is tested on TimescaleDB in
    test_timescaledb_refresh.py)."""
    bootstrap(settings)
    ensure_topics(settings)
    parts = Components(settings, tmp_path)  # its first refresh round comes after 30 s
    parts.start("sink")
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers)  # as the bridge does
    first = [reading(1, "2026-05-01T00:00:00Z"), reading(2, "2026-05-01T00:00:10+08:00"),
             reading(3, "not a time"), reading(4, "2026-05-01T00:00:30Z")]
    for body in (first, [reading(5, "2026-05-01T00:00:40Z")]):
        producer.send("fj.raw.power", key=b"changle-dc1", value=json.dumps(body).encode())
    day = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    starts = [day + timedelta(hours=2, minutes=58), day + timedelta(hours=3, minutes=1),
              day + timedelta(hours=7)]
    producer.send("fj.derived.pue", key=b"changle-dc1",
                  value=json.dumps([window(s) for s in starts]).encode())
    producer.flush()
    producer.close()
    notes = "SELECT view, bucket, bucket_end FROM aggregate_refresh ORDER BY bucket"
    with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
        wait_for(lambda: conn.execute("SELECT count(*) FROM power_readings").fetchone() == (4,)
                 and conn.execute("SELECT count(*) FROM pue_windows").fetchone() == (3,),
                 30, "the good rows", lambda: parts.log("sink")[-2000:])
        seqs = [r[0] for r in conn.execute("SELECT seq FROM power_readings ORDER BY seq")]
        letters = conn.execute("SELECT stage, source, reason, payload FROM dead_letters").fetchall()
        noted = conn.execute(notes).fetchall()
        assert parts.stop_all() == {"sink": 0}
        assert asyncio.run(refresh_round(Credentials(settings).dsn("writer"))) == []
        cleared = conn.execute(notes).fetchall()
    assert seqs == [1, 2, 4, 5]
    [(stage, source, reason, payload)] = letters
    assert (stage, source) == ("sink", "fj.raw.power")
    assert reason.startswith("power_readings: invalid input syntax for type timestamp")
    assert json.loads(bytes(payload))["seq"] == 3
    assert noted == [("pue_hourly", day + timedelta(hours=h), day + timedelta(hours=h + 1))
                     for h in (2, 3, 7)]
    assert cleared == []  # a view needs no refresh: the notes are only cleared
    by_hand = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "refresh", "--since", day.date().isoformat(),
         "--until", day.date().isoformat()], env=settings_env(settings), capture_output=True,
        text=True, timeout=60, check=False)
    assert (by_hand.returncode, by_hand.stdout) == (0, "nothing to refresh\n"), by_hand.stderr


@pytest.mark.parametrize("outage_s", [30, 0], ids=["stopped-30s", "restarted"])
def test_the_pipeline_rides_out_a_database_outage(settings: Settings, servers: LocalStack,
                                                  tmp_path: Path, outage_s: int):
    bootstrap(settings)
    parts = Components(settings, tmp_path)
    for name in ("bridge", "worker", "sink"):
        parts.start(name)
    parts.wait_ready("bridge")
    start = datetime(2026, 2, 3, 4, 0, tzinfo=UTC)
    scenario = PowerScenario(scenario_sites(load_catalog(), 2), start, timedelta(minutes=40))
    messages = list(arrays(generate(scenario), 1, 20, seed=5))
    publisher = DevicePublisher(settings)
    admin = Credentials(settings).dsn("admin")
    try:
        half = len(messages) // 2
        publisher.run(messages[:half])
        with psycopg.connect(admin) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM pue_windows").fetchone()[0] > 5,  # type: ignore[index]
                     60, "the first windows")
        servers.postgres.stop()
        if outage_s:
            stats = publisher.run(messages[half:])  # stored nowhere for now: wait in Kafka
            wait_for(lambda: (parts.health("sink") or {}).get("waiting_for") == "the database",
                     30, "the sink to say it waits for the database", lambda: parts.health("sink"))
            outage_ends = datetime.now(UTC) + timedelta(seconds=outage_s)
            wait_for(lambda: datetime.now(UTC) >= outage_ends, 40, "the outage")
            assert {n: p.poll() for n, p in parts.procs.items()} == dict.fromkeys(parts.procs)
            servers.postgres.start()
        else:
            servers.postgres.start()  # a restart: every connection the sink had is gone
            stats = publisher.run(messages[half:])
        with psycopg.connect(admin, autocommit=True) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM power_readings").fetchone() == (
                len(stats.valid),), 90, "every reading stored")
            wait_for(lambda: conn.execute("SELECT count(*) FROM pue_windows").fetchone() == (
                2 * 38,), 60, "every window stored")
            stored = Counter(conn.execute("SELECT device, seq FROM power_readings").fetchall())
            windows = conn.execute("SELECT site, window_start, window_end, pue FROM pue_windows "
                                   "WHERE pue IS NOT NULL").fetchall()
            meters = counters(conn, load_catalog())
    finally:
        publisher.close()
        codes = parts.stop_all()
    assert set(stored) == stats.valid and max(stored.values()) == 1
    assert len(windows) >= 2 * 36
    for site, begin, end, pue in windows:
        f, it = meters[site]["facility"], meters[site]["it"]
        assert pue == pytest.approx(energy(f, begin, end) / energy(it, begin, end), abs=1e-6)
    assert codes == {"bridge": 0, "worker": 0, "sink": 0}  # none exited before it was stopped
