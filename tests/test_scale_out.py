"""Scale-out on the real servers: three workers and two sinks share the partitions, and one of
each is SIGKILLed while the meters of every datacenter publish.

The killed worker's partitions move to the two that are left (their ``/health`` lists them),
every valid reading is stored exactly once, and every one-minute PUE window of every site is
there once and equals the PUE computed independently from the stored counters: what a single
worker gives (``tests/test_pipeline.py`` checks that one against the same reference).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.processes import Components, wait_for
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from fjsense.stack.service import free_port
from kinds.power.simulator import PowerScenario, generate, scenario_sites
from simulators.messages import arrays
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap
from tests.reference_pue import counters, energy

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 12, 18, 0, tzinfo=UTC)
WINDOWS_PER_SITE = 58  # 1 h of 1-minute windows, the last 2 minutes still within lateness
SOURCE = "fj.raw.power"


def partitions_of(parts: Components, name: str, port: int | None) -> set[str]:
    """The source partitions a worker says it holds (none while it is not ready)."""
    report = parts.health(name, port) or {}
    held = report.get("partitions", []) if report.get("state") == "ready" else []
    return {p for p in held if p.startswith(f"{SOURCE}[")}


def test_three_workers_and_two_sinks_share_the_partitions_and_survive_a_kill(
        settings: Settings, tmp_path: Path):
    bootstrap(settings)
    parts = Components(settings, tmp_path)
    ports: dict[str, int | None] = {"worker": None, "worker-2": free_port(),
                                    "worker-3": free_port(), "sink": None, "sink-2": free_port()}
    parts.start("bridge")
    for name, port in ports.items():
        command = name.split("-")[0] + (f" --health-port {port}" if port else "")
        parts.start(name, command)
    every = {f"{SOURCE}[{p}]" for p in range(settings.kafka.partitions)}
    conn = psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True)
    publisher = DevicePublisher(settings)
    try:
        for name, port in ports.items():
            parts.wait_ready(name, timeout=120, port=port)
        parts.wait_ready("bridge")
        workers = [w for w in ports if w.startswith("worker")]
        held = {}

        def shared() -> bool:
            held.update({w: partitions_of(parts, w, ports[w]) for w in workers})
            return all(held.values()) and sum(map(len, held.values())) == len(every) and (
                set().union(*held.values()) == every)
        wait_for(shared, 90, "the three workers to share the partitions", lambda: held)

        sites = scenario_sites(load_catalog(), len(load_catalog().sites_of("power")))
        scenario = PowerScenario(sites, START, timedelta(hours=1), seed=5)
        messages = list(arrays(generate(scenario), 1, 20, seed=5))
        half = len(messages) // 2
        publisher.run(messages[:half])
        wait_for(lambda: conn.execute("SELECT count(*) FROM pue_windows").fetchone()[0] > 20,
                 90, "the first PUE windows")
        victim = "worker-2"
        moved = held[victim]
        parts.kill(victim)
        parts.kill("sink-2")
        survivors = [w for w in workers if w != victim]
        stats = publisher.run(messages[half:])  # the whole run's

        def taken_over() -> bool:
            held.clear()
            held.update({w: partitions_of(parts, w, ports[w]) for w in survivors})
            return set().union(*held.values()) == every and sum(map(len, held.values())) == len(every)
        wait_for(taken_over, 90, "the survivors to take the killed worker's partitions",
                 lambda: held)
        assert moved and moved <= set().union(*held.values())

        valid = len(stats.valid)
        progress = "SELECT (SELECT count(*) FROM pue_windows), (SELECT count(*) FROM power_readings)"
        target = (len(sites) * WINDOWS_PER_SITE, valid)
        wait_for(lambda: all(a >= b for a, b in zip(conn.execute(progress).fetchone(), target)),
                 240, f"the whole hour stored {target}",
                 lambda: (conn.execute(progress).fetchone(),
                          [parts.health(w, ports[w]) for w in survivors]))

        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (device, seq)) FROM power_readings").fetchone()
        assert stored == distinct == valid  # 0 lost, 0 doubled
        windows = conn.execute("SELECT site, window_start, window_end, pue FROM pue_windows "
                               "ORDER BY site, window_start").fetchall()
        per_site = {s.id: sum(1 for w in windows if w[0] == s.id) for s in sites}
        assert all(n >= WINDOWS_PER_SITE for n in per_site.values()), per_site
        meters = counters(conn, load_catalog())
        judged = [w for w in windows if w[3] is not None]
        assert len(judged) >= 0.97 * len(windows)
        for site, start, end, pue in judged:
            expected = energy(meters[site]["facility"], start, end) / energy(
                meters[site]["it"], start, end)
            assert pue == pytest.approx(expected, abs=1e-6), (site, start)
    finally:
        publisher.close()
        codes = parts.stop_all()
        conn.close()
    assert codes == {"bridge": 0, "worker": 0, "worker-3": 0, "sink": 0}, codes
