"""Dead letters read and replayed through real Mosquitto, Tansu and PostgreSQL: a 1998 tide
record refused while ``tide.earliest_ts`` said 2000 is listed, and once the setting is fixed,
replayed through the live validation and stored once; a letter whose cause remains makes a new
letter, never a loop; replaying twice stores nothing twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from paho.mqtt import publish

from app.processes import Components, settings_env, wait_for
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from tests.paths import DATA
from tests.running import count, pipeline

pytestmark = pytest.mark.integration

CAN1998 = DATA / "tide" / "can1998_uhslc_fast.csv"
STATION = "luoyuan-tide"


def fjsense(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run([sys.executable, "-m", "app.cli", *args],
                         env=settings_env(settings), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def letters(settings: Settings, *filters: str) -> list[dict]:
    return json.loads(fjsense(settings, "deadletters", "list", "--json", *filters).stdout)


def test_refused_readings_come_back_once_their_cause_is_fixed(module_settings: Settings,
                                                              tmp_path: Path) -> None:
    strict = Settings(**{**module_settings.model_dump(),
                         "tide": {"earliest_ts": "2000-01-01T00:00:00Z"}})
    head = tmp_path / "can1998 first two days.csv"
    head.write_text("".join(CAN1998.read_text().splitlines(keepends=True)[:48]))
    # the sink runs throughout; only the bridge, which judges readings, is started again with
    # the setting fixed (raw readings and dead letters need no worker)
    with pipeline(module_settings, tmp_path / "sink", core=("sink",)) as conn:
        bridge = Components(strict, tmp_path / "strict")
        bridge.start("bridge")
        try:
            bridge.wait_ready("bridge")
            fjsense(strict, "replay", str(head), "--as", STATION)
            login = Credentials(strict).device("pingtan-b1-b1")
            publish.single("fj/buoy/pingtan-b1/pingtan-b1-b1", json.dumps(
                {"device": "pingtan-b1-b1", "seq": 1, "ts": "2026-12-01T00:00:00Z", "ph": 15}),
                qos=1, hostname="127.0.0.1", port=strict.mqtt.port,
                auth={"username": login.username, "password": login.password}, protocol=5)
            wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE reason LIKE "
                                   "'%%tide.earliest_ts%%'") == 48, 60, "48 letters")
            wait_for(lambda: count(conn, "SELECT count(*) FROM dead_letters WHERE reason LIKE "
                                   "'%%ph 15.0%%'") == 1, 60, "the pH letter")
        finally:
            bridge.stop_all()
        listed = letters(module_settings, "--stage", "ingest", "--reason", "TIDE.EARLIEST_TS")
        assert len(listed) == 48 and len({x["id"] for x in listed}) == 48
        assert set(listed[0]) >= {"id", "stage", "reason", "source", "received_at",
                                  "replayed_at"}
        assert {x["source"] for x in listed} == {f"fj/tide/{STATION}/luoyuan-tg1"}
        assert all(x["replayed_at"] is None for x in listed)
        assert json.loads(listed[0]["payload"])["ts"] == "1998-01-01T00:00:00Z"

        fixed = Components(module_settings, tmp_path / "fixed")  # the setting fixed
        fixed.start("bridge")
        try:
            fixed.wait_ready("bridge")
            out = fjsense(module_settings, "deadletters", "replay", "--reason", "earliest_ts")
            assert out.stdout.startswith("48 dead letters not replayed before: 48 sent again")
            query = "SELECT count(*) FROM tide_readings WHERE site = %s AND ts < '2000-01-01'"
            wait_for(lambda: count(conn, query, STATION) == 48, 120, "the 1998 levels stored")
            again = fjsense(module_settings, "deadletters", "replay", "--reason", "earliest_ts")
            assert again.stdout.startswith("0 dead letters not replayed before: 0 sent again")
            still = fjsense(module_settings, "deadletters", "replay", "--reason", "ph 15")
            assert "1 still refused" in still.stdout
            assert count(conn, query, STATION) == 48  # nothing doubled
            assert count(conn, "SELECT count(DISTINCT seq) FROM tide_readings WHERE site = %s "
                         "AND ts < '2000-01-01'", STATION) == 48
        finally:
            fixed.stop_all()
    ph = letters(module_settings, "--reason", "ph 15.0")
    assert len(ph) == 2 and sum(x["replayed_at"] is not None for x in ph) == 1
    assert all(x["replayed_at"] is not None for x in letters(
        module_settings, "--reason", "tide.earliest_ts"))
    assert letters(module_settings, "--reason", "tide.earliest_ts", "--until", "2000-01-01") == []
