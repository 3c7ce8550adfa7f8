"""A worker that has records to take and takes none is ``stalled``: its endpoint answers 503
and `fjsense health` fails on it, though the worker itself still thinks it is ready."""

from __future__ import annotations

from app.healthcheck import component_checks
from fjsense.health import Health, HealthServer, probe, stall_reason
from fjsense.settings import Settings
from fjsense.stack.service import free_port


def test_only_lag_with_nothing_taken_for_long_enough_is_a_stall():
    assert stall_reason(lag=12, idle_seconds=61.0, limit_seconds=60.0) == (
        "12 records to take, none taken for 61 s")
    assert stall_reason(lag=12, idle_seconds=59.9, limit_seconds=60.0) is None  # not yet
    assert stall_reason(lag=0, idle_seconds=3600.0, limit_seconds=60.0) is None  # idle, caught up


def test_a_stalled_worker_answers_503_and_health_fails_on_it(base_settings: Settings):
    port = free_port()
    settings = base_settings.model_copy(update={
        "health": base_settings.health.model_copy(update={"worker_port": port})})
    health = Health("worker")
    health.ready()
    lag = {"records": 0}
    health.watch(lambda: stall_reason(lag["records"], 120.0, 60.0))
    server = HealthServer(health, settings.health.host, port)
    try:
        [fine] = component_checks(settings, ("worker",))
        lag["records"] = 990
        report = probe(settings.health.host, port)
        [check] = component_checks(settings, ("worker",))
    finally:
        server.close()
    assert fine.ok and fine.state == "ready"
    assert report is not None and report["state"] == "stalled"
    assert report["stalled"] == "990 records to take, none taken for 120 s"
    assert not check.ok and check.state == "stalled"
