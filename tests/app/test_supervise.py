"""`fjsense run` and `fjsense health` against the real servers: a component killed under the
supervisor is started again (logged, counted) and works; health comes from the components'
own endpoints and fails when they are gone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.processes import Components, settings_env, wait_for
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from kinds.power.simulator import PowerScenario, generate, scenario_sites
from simulators.messages import arrays
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap

pytestmark = pytest.mark.integration


def health(settings: Settings, *args: str) -> tuple[int, list[dict]]:
    done = subprocess.run([sys.executable, "-m", "app.cli", "health", "--json",
                           *args], env=settings_env(settings), capture_output=True, text=True,
                          timeout=60, check=False)
    return done.returncode, json.loads(done.stdout)


def test_a_killed_component_is_restarted_and_health_tells(settings: Settings, tmp_path: Path):
    bootstrap(settings)
    parts = Components(settings, tmp_path)
    parts.start("run")
    try:
        parts.wait_ready("run", timeout=90)
        code, checks = health(settings)
        by_name = {(c["what"], c["name"]): c for c in checks}
        assert code == 0, checks
        assert {n for w, n in by_name if w == "component"} == {"run", "bridge", "worker", "sink", "notify",
                                                                  "hj212"}
        assert all(c["ok"] for c in checks)
        assert {n for w, n in by_name if w == "server"} == {"mosquitto", "tansu", "postgres"}
        assert by_name[("component", "run")]["components"]["sink"]["restarts"] == 0

        sink_pid = parts.health("run")["components"]["sink"]["pid"]  # type: ignore[index]
        os.kill(sink_pid, signal.SIGKILL)
        wait_for(lambda: parts.health("run")["components"]["sink"]["restarts"] == 1,  # type: ignore[index]
                 20, "the supervisor to notice")
        parts.wait_ready("run", timeout=60)
        sink = parts.health("run")["components"]["sink"]  # type: ignore[index]
        assert sink["pid"] != sink_pid and sink["last_exit"] == -signal.SIGKILL
        assert "sink exited with code -9; restart 1 in 1.0s" in parts.log("run")

        # the restarted sink stores what comes next
        start = datetime.now(UTC) - timedelta(hours=1)
        scenario = PowerScenario(scenario_sites(load_catalog(), 1), start, timedelta(minutes=5))
        publisher = DevicePublisher(settings)
        stats = publisher.run(list(arrays(generate(scenario), 1, 10)))
        publisher.close()
        with psycopg.connect(Credentials(settings).dsn("admin")) as conn:
            wait_for(lambda: conn.execute("SELECT count(*) FROM power_readings").fetchone()
                     == (len(stats.valid),), 60, "the readings stored")
        code, checks = health(settings)
        lag = {c["name"]: c for c in checks if c["what"] == "lag"}
        assert code == 0 and lag["sink"]["ok"] and "fj.raw.power" in lag["sink"]["by_topic"]
        [busiest] = [c for c in checks if c["what"] == "partitions"]
        assert busiest["state"] == "ok" and busiest["records"] > 0 and busiest["warn_at"] == 40_000
        # a partition past health.partition_warn_records: a warning with what to do, exit 0
        crowded = settings.model_copy(update={"health": settings.health.model_copy(
            update={"partition_warn_records": busiest["records"]})})
        code, checks = health(crowded)
        [warned] = [c for c in checks if c["what"] == "partitions"]
        assert code == 0 and warned["ok"] and warned["state"] == "warning"
        assert warned["busiest"] == busiest["busiest"] and "fjsense down" in warned["advice"]
    finally:
        codes = parts.stop_all()
    assert codes == {"run": 0}
    code, checks = health(settings)
    assert code == 1
    assert {c["name"]: c["state"] for c in checks if c["what"] == "component"} == {
        "bridge": "down", "worker": "down", "sink": "down", "notify": "down", "hj212": "down"}
    assert health(settings, "--component", "sink")[0] == 1


def test_a_second_sink_answers_on_its_own_health_port(settings: Settings, tmp_path: Path):
    """Several instances of a component each need their own endpoint (issue 20, scale-out):
    ``--health-port`` gives one; the default port stays free for the first."""
    from fjsense.health import probe
    from fjsense.stack.service import free_port

    bootstrap(settings)
    parts = Components(settings, tmp_path)
    port = free_port()
    parts.start("sink-2", f"sink --health-port {port}")
    try:
        parts.wait_ready("sink-2", port=port)
        assert (parts.health("sink-2", port=port) or {}).get("component") == "sink"
        assert probe(settings.health.host, settings.health.sink_port) is None
    finally:
        assert parts.stop_all() == {"sink-2": 0}
