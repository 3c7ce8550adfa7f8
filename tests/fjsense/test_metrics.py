"""Each component's health counters as Prometheus metrics, parsed back with Prometheus's own
text parser (prometheus-client), from a real health endpoint."""

from __future__ import annotations

import re
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from dashboards.grafana import MetricsPanel
from dashboards.platform import platform_dashboard
from fjsense.health import Health, HealthServer
from fjsense.metrics import exposition
from fjsense.stack.service import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_sink_s_counters_are_served_on_its_health_port():
    health = Health("sink")
    health.update(rows_stored={"power_readings": 120, "pue_windows": 4},
                  lag={"fj.raw.power": 7})
    health.ready()
    port = free_port()
    server = HealthServer(health, "127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain; version=")
            got = samples(answer.read().decode())
    finally:
        server.close()
    SERVED.update(name for name, _ in got)
    assert got == {
        ("fjsense_ready", (("component", "sink"),)): 1.0,
        ("fjsense_sink_rows_stored_total", (("table", "power_readings"),)): 120.0,
        ("fjsense_sink_rows_stored_total", (("table", "pue_windows"),)): 4.0,
        ("fjsense_sink_lag_records", (("topic", "fj.raw.power"),)): 7.0}


SERVED: set[str] = set()  # every metric name the tests above and below saw served


def test_worker_bridge_notify_and_supervisor_counters_follow_prometheus_naming():
    worker = Health("worker")
    worker.update(partitions=["fj.raw.power[0]", "fj.raw.power[1]"])
    worker.probe("events", lambda: 42)
    worker.probe("taken:pue", lambda: {0: (9, 15), 1: (None, 3), 2: (4, None)})
    got = samples(exposition(worker).decode())
    SERVED.update(name for name, _ in got)
    assert got[("fjsense_ready", (("component", "worker"),))] == 0.0  # still starting
    assert got[("fjsense_worker_events_total", ())] == 42.0
    assert got[("fjsense_worker_partitions", ())] == 2.0
    assert got[("fjsense_worker_lag_records", (("partition", "0"), ("processor", "pue")))] == 5.0
    assert got[("fjsense_worker_lag_records", (("partition", "1"), ("processor", "pue")))] == 3.0
    assert ("fjsense_worker_lag_records", (("partition", "2"), ("processor", "pue"))) not in got

    bridge = Health("bridge")
    bridge.probe("stats", lambda: {"received": 10, "forwarded": 25, "dead_lettered": 1,
                                   "acknowledged": 10})
    bridge.probe("unacknowledged", lambda: 0)
    got = samples(exposition(bridge).decode())
    SERVED.update(name for name, _ in got)
    assert got[("fjsense_bridge_received_total", ())] == 10.0
    assert got[("fjsense_bridge_forwarded_total", ())] == 25.0
    assert got[("fjsense_bridge_dead_lettered_total", ())] == 1.0
    assert got[("fjsense_bridge_unacknowledged_messages", ())] == 0.0

    notify = Health("notify")
    notify.probe("delivered", lambda: {"webhook": 3, "email": 1})
    notify.probe("failing", lambda: {"email": "451 try later"})
    notify.probe("firing", lambda: {"critical": 2})
    got = samples(exposition(notify).decode())
    SERVED.update(name for name, _ in got)
    assert got[("fjsense_notify_deliveries_total", (("receiver", "webhook"),))] == 3.0
    assert got[("fjsense_notify_receiver_failing", (("receiver", "email"),))] == 1.0
    assert got[("fjsense_alerts_firing", (("severity", "critical"),))] == 2.0

    run = Health("run")
    run.probe("components", lambda: {"sink": {"state": "ready", "restarts": 2},
                                     "worker-2": {"state": "restarting", "restarts": 1}})
    got = samples(exposition(run).decode())
    SERVED.update(name for name, _ in got)
    assert got[("fjsense_component_restarts_total", (("name", "sink"),))] == 2.0
    assert got[("fjsense_component_ready", (("name", "worker-2"),))] == 0.0


def test_every_metric_the_platform_dashboard_draws_is_one_a_component_serves():
    """Prometheus cannot run here: its panels' PromQL is checked by the names it uses."""
    test_a_sink_s_counters_are_served_on_its_health_port()
    test_worker_bridge_notify_and_supervisor_counters_follow_prometheus_naming()
    drawn = {name for panel in platform_dashboard().panels if isinstance(panel, MetricsPanel)
             for name in re.findall(r"fjsense_[a-z_]+", panel.expr)}
    assert len(drawn) >= 10 and drawn <= SERVED, drawn - SERVED
