"""The sink notes the buckets of the continuous aggregates it writes into, as the writer role,
in the rows' transaction, and its refresh round clears them as that role (real Tansu and PostgreSQL;
on plain PostgreSQL ``pue_hourly`` is a view, always current, so the notes are only cleared).
The refresh itself is tested on TimescaleDB in ``test_timescaledb_refresh.py``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaProducer

from app.processes import Components, settings_env, wait_for
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from sinks.migrate import bootstrap
from sinks.refresh import refresh_noted

pytestmark = pytest.mark.integration


def window(start: datetime) -> dict:
    return {"site": "changle-dc1", "window_start": start.isoformat(),
            "window_end": (start + timedelta(minutes=1)).isoformat(), "facility_kwh": 13.0,
            "it_kwh": 10.0, "cooling_kwh": 2.5, "pue": 1.3, "pue_rolling": None,
            "instant_kw_ratio": None, "reason": None, "rolling_reason": None}


async def sink_round(dsn: str) -> list:
    """The sink's refresh round, as its role."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        return await refresh_noted(conn)


def test_the_sink_notes_the_hours_it_wrote_and_its_refresh_round_clears_them(
        settings: Settings, tmp_path: Path):
    bootstrap(settings)
    ensure_topics(settings)
    day = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    starts = [day + timedelta(hours=2, minutes=58), day + timedelta(hours=3, minutes=1),
              day + timedelta(hours=7)]
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers)
    producer.send("fj.derived.pue", key=b"changle-dc1",
                  value=json.dumps([window(s) for s in starts]).encode())
    producer.flush()
    producer.close()
    notes = "SELECT view, bucket, bucket_end FROM aggregate_refresh ORDER BY bucket"
    hours = [day + timedelta(hours=h) for h in (2, 3, 7)]
    with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
        parts = Components(settings, tmp_path)  # its refresh round comes after 30 s
        parts.start("sink")
        try:
            wait_for(lambda: conn.execute("SELECT count(*) FROM pue_windows").fetchone() == (3,),
                     30, "the windows stored", lambda: parts.log("sink")[-2000:])
        finally:
            assert parts.stop_all() == {"sink": 0}
        assert conn.execute(notes).fetchall() == [
            ("pue_hourly", h, h + timedelta(hours=1)) for h in hours]
        assert asyncio.run(sink_round(Credentials(settings).dsn("writer"))) == []
        assert conn.execute(notes).fetchall() == []  # cleared: a view needs no refresh
    by_hand = subprocess.run(
        [sys.executable, "-m", "app.cli", "db", "refresh", "--since", day.date().isoformat(),
         "--until", day.date().isoformat()], env=settings_env(settings), capture_output=True,
        text=True, timeout=60, check=False)
    assert (by_hand.returncode, by_hand.stdout) == (0, "nothing to refresh\n"), by_hand.stderr
