"""A kind is one plugin: the thermometer, declared wholly in tests/thermometer/, runs through
the real bridge, worker and sink (MQTT → Kafka → faust → PostgreSQL) with nothing changed
outside its own files: it is named by the ``plugins`` setting, its stations come from an
operator's catalog file (``catalog.file``), and every stage finds it through the registry."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from app.processes import Components, settings_env, wait_for
from dashboards.build import all_dashboards
from dashboards.macros import expand
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.rules import load_rules
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from simulators.messages import arrays
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap
from tests.thermometer.simulator import ThermometerSimulator

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SPAN = timedelta(hours=1)


@pytest.fixture(scope="module")
def thermo(module_settings: Settings) -> Settings:
    """The session's settings plus the plugin and the operator's catalog file."""
    return Settings(**{**module_settings.model_dump(), "plugins": ["tests.thermometer.kind"],
                       "catalog": {"file": HERE / "catalog.yaml"}})


@pytest.fixture(scope="module")
def stored(thermo: Settings, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[psycopg.Connection, set[tuple[str, int]]]]:
    applied = bootstrap(thermo)
    assert "thermometer/0001_tables" in applied
    LocalStack(thermo).refresh_mqtt_auth()  # the broker learns the lab's thermometers
    parts = Components(thermo, tmp_path_factory.mktemp("thermo-logs"))
    args = argparse.Namespace(interval=None, hot_at=17)
    messages = list(arrays(ThermometerSimulator().messages(
        thermo, catalog_of(thermo), args, END, SPAN), 1, 7, seed=3))
    publisher = DevicePublisher(thermo)
    conn = psycopg.connect(Credentials(thermo).dsn("admin"), autocommit=True)
    try:  # from the first start: a component that fails to come up must not outlive the test
        for name in ("bridge", "worker", "sink"):
            parts.start(name)
        parts.wait_ready("bridge")
        stats = publisher.run(messages)
        done = ("SELECT (SELECT count(*) FROM thermometer_readings), "
                "(SELECT count(*) FROM thermometer_observations), "
                "(SELECT count(*) FROM thermometer_means)")
        target = (len(stats.valid), len(stats.valid), 12)  # one lab: 12 closed windows
        wait_for(lambda: conn.execute(done).fetchone() == target, 90,
                 f"thermometer rows {target}", lambda: conn.execute(done).fetchone())
        yield conn, stats.valid
    finally:
        publisher.close()
        codes = parts.stop_all()
        conn.close()
    assert codes == {"bridge": 0, "worker": 0, "sink": 0}, codes


def test_readings_flow_from_mqtt_to_their_table(stored):
    conn, valid = stored
    rows = conn.execute("SELECT site, device, seq FROM thermometer_readings").fetchall()
    assert {(d, s) for _, d, s in rows} == valid and len(rows) == len(valid) == 2 * 61
    assert {site for site, _, _ in rows} == {"thermo-lab1"}


def test_a_flagged_value_is_stored_with_its_flag(stored):
    conn, valid = stored
    flags = conn.execute("SELECT qc, qc_tests, temp_c, count(*) FROM thermometer_observations "
                         "GROUP BY 1, 2, 3 HAVING qc <> 1").fetchall()
    assert flags == [(3, "gross_range", 55.0, 2)]  # minute 17 of each thermometer
    assert conn.execute("SELECT count(*) FROM thermometer_observations").fetchone() == (
        len(valid),)


def test_five_minute_means_equal_an_independent_computation(stored):
    conn, _ = stored
    sums: dict[datetime, list[float]] = defaultdict(list)
    for ts, temp in conn.execute("SELECT ts, temp_c FROM thermometer_readings"):
        sums[datetime.fromtimestamp(ts.timestamp() // 300 * 300, UTC)].append(temp)
    means = conn.execute("SELECT window_start, readings, mean_c FROM thermometer_means "
                         "ORDER BY window_start").fetchall()
    assert len(means) == 12  # the 12:00 window stays open: no reading passes its end
    for start, n, mean in means:
        assert n == len(sums[start]) == 10 and mean == pytest.approx(sum(sums[start]) / n, abs=1e-9)


def test_its_shipped_alert_rule_runs_beside_the_built_in_ones(stored, thermo: Settings):
    """The kind's rules.yaml is merged with every kind's: the one hot minute (17) fires and
    resolves the rule once per thermometer, through the real worker and sink."""
    conn, _ = stored
    names = [r.name for r in load_rules(thermo, catalog_of(thermo)).rules]
    assert "thermometer-hot" in names and "pue-above-target" in names
    query = ("SELECT group_key, state, value FROM alert_events WHERE rule = 'thermometer-hot' "
             "ORDER BY group_key, at")
    wait_for(lambda: len(conn.execute(query).fetchall()) >= 4, 60, "the hot minute's alerts",
             lambda: conn.execute("SELECT stage, reason FROM dead_letters LIMIT 3").fetchall())
    events = conn.execute(query).fetchall()
    assert [(g, s) for g, s, _ in events] == [
        ("thermo-lab1-t1", "firing"), ("thermo-lab1-t1", "resolved"),
        ("thermo-lab1-t2", "firing"), ("thermo-lab1-t2", "resolved")]
    assert [v for _, s, v in events if s == "firing"] == [55.0, 55.0]


def test_its_dashboard_runs_as_the_read_only_role(stored, thermo: Settings):
    board = next(d for d in all_dashboards(thermo) if d.uid == "fjsense-thermometer")
    pipeline = next(d for d in all_dashboards(thermo) if d.uid == "fjsense-pipeline")
    assert "thermometer_readings" in pipeline.panels[0].sql  # the pipeline iterates the registry
    with psycopg.connect(Credentials(thermo).dsn("reader"), autocommit=True) as conn:
        for panel in (*board.panels, *pipeline.panels[:2]):
            query = expand(panel.sql, END - SPAN - timedelta(days=1),
                           datetime.now(UTC) + timedelta(minutes=1), "5m")
            cur = conn.execute(query)
            assert tuple(c.name for c in cur.description) == panel.columns
            assert cur.fetchall(), panel.title


def test_the_cli_knows_the_kind_through_the_registry(thermo: Settings):
    env = {k: v for k, v in settings_env(thermo).items()}
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FJSENSE_")},
           **{k: v for k, v in env.items() if k.startswith("FJSENSE_")}}

    def fjsense(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    catalog = json.loads(fjsense("catalog", "--json").stdout)
    lab = next(s for s in catalog["sites"] if s["id"] == "thermo-lab1")
    assert (lab["kind"], lab["spec"], lab["devices"][0]["spec"]) == (
        "thermometer", {"floor": 3}, {"max_c": 85.0})
    assert "--hot-at" in fjsense("simulate", "thermometer", "--help").stdout
    shown = json.loads(fjsense("config", "show").stdout)
    assert shown["thermometer"] == {"window_seconds": 300, "suspect_above_c": 40.0,
                                    "silent_after_seconds": 600.0,
                                    "earliest_ts": "2000-01-01T00:00:00Z",
                                    "close_after_silence_seconds": 3600.0}
