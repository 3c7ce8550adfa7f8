"""`fjsense demo`: the whole platform on the embedded stack, with a live view and a summary.

Starts Mosquitto, Tansu and PostgreSQL, migrates, writes the Grafana dashboards, runs the
bridge, worker and sink as their own processes, and replays simulated power meters (with a
chiller fault at the first site, so an alert fires) until the time is up; then stops all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from kafka import KafkaConsumer, TopicPartition
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from dashboards.build import write_provisioning
from fjsense import topics
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.kinds import power
from fjsense.processes import Components
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from simulators.faults import Faults
from simulators.power import CoolingFault, PowerScenario, aligned_start, generate, scenario_sites
from simulators.publisher import DevicePublisher

STAGES = (
    ("devices → MQTT", "published"),
    ("bridge → Kafka raw", power.KIND.raw_topic),
    ("worker → PUE windows", topics.PUE),
    ("sink → database (unique readings)", "power_readings"),
    ("dead letters", topics.DEADLETTER),
)


@dataclass
class Snapshot:
    at: float
    counts: dict[str, int]
    pue: list[tuple]
    firing: list[tuple]


class Observer:
    """Reads the pipeline from the outside: Kafka end offsets and database rows."""

    def __init__(self, settings: Settings, publisher: DevicePublisher) -> None:
        self.publisher = publisher
        self.kafka = KafkaConsumer(bootstrap_servers=settings.kafka.servers, enable_auto_commit=False)
        self.db = psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True)

    def end_offsets(self, topic: str) -> int:
        parts = [TopicPartition(topic, p) for p in self.kafka.partitions_for_topic(topic) or ()]
        return sum(self.kafka.end_offsets(parts).values()) if parts else 0

    def snapshot(self) -> Snapshot:
        counts = {"published": self.publisher.stats.published}
        for topic in (power.KIND.raw_topic, topics.PUE, topics.DEADLETTER):
            counts[topic] = self.end_offsets(topic)
        counts["power_readings"] = self.db.execute(
            "SELECT count(*) FROM power_readings").fetchone()[0]  # type: ignore[index]
        pue = self.db.execute(
            "SELECT DISTINCT ON (site) site, window_end, pue, pue_rolling, instant_kw_ratio "
            "FROM pue_windows ORDER BY site, window_end DESC").fetchall()
        firing = self.db.execute(
            "SELECT site, rule, at, value FROM (SELECT DISTINCT ON (rule, site) * FROM "
            "alert_events WHERE state <> 'pending' ORDER BY rule, site, at DESC) last "
            "WHERE state = 'firing' ORDER BY at").fetchall()
        return Snapshot(time.monotonic(), counts, pue, firing)

    def close(self) -> None:
        self.kafka.close()
        self.db.close()


def render(now: Snapshot, before: Snapshot | None, target: float, remaining: float) -> Group:
    stages = Table("stage", "total", "per second", title="pipeline")
    for label, key in STAGES:
        rate = ""
        if before is not None and now.at > before.at:
            rate = f"{(now.counts[key] - before.counts[key]) / (now.at - before.at):,.0f}"
        stages.add_row(label, f"{now.counts[key]:,}", rate)
    pue = Table("site", "window end (UTC)", "PUE 1 min", "PUE 15 min", "kW ratio now",
                title=f"energy-based PUE (target < {target})")
    for site, end, p1, p15, ratio in now.pue:
        colour = "red" if p15 is not None and p15 > target else "green"
        pue.add_row(site, f"{end:%Y-%m-%d %H:%M}", _fmt(p1),
                    f"[{colour}]{_fmt(p15)}[/]", _fmt(ratio))
    alerts = Table("site", "rule", "since", "value", title="firing alerts")
    for site, rule, at, value in now.firing:
        alerts.add_row(site, rule, f"{at:%H:%M}", _fmt(value))
    footer = f"{remaining:,.0f} s left · Ctrl-C stops early"
    return Group(stages, pue, alerts, Panel(footer, expand=False))


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def run_demo(settings: Settings, minutes: float, sites: int, speed: float) -> None:
    console = Console()
    stack = LocalStack(settings)
    already_up = all(service.pid() is not None for service in stack.local_services())
    with console.status("starting Mosquitto, Tansu and PostgreSQL…"):
        stack.up()
        ensure_topics(settings)
        from sinks.migrate import bootstrap

        bootstrap(settings)
        written = write_provisioning(settings, settings.home / "grafana")
    console.print(f"dashboards written: {', '.join(str(p) for p in written[:2])} (+ provisioning)")
    parts = Components(settings, settings.home / "logs", verbose=False)
    publisher = DevicePublisher(settings, speed=speed)
    observer = None
    stop = threading.Event()
    try:
        with console.status("starting bridge, worker and sink…"):
            for name in ("bridge", "worker", "sink"):
                parts.start(name)
            parts.wait_bridge_subscribed()
        span = timedelta(minutes=minutes * speed)
        start = aligned_start(datetime.now(UTC), span, timedelta(seconds=10))
        chosen = scenario_sites(load_catalog(settings.catalog_file), sites)
        fault = CoolingFault(chosen[0].id, start + span * 0.25, start + span * 0.55, 2.5)
        scenario = PowerScenario(chosen, start, span, seed=int(time.time()), cooling_faults=[fault])
        faults = Faults(duplicate=0.01, reorder=0.02, malformed=0.002, seed=1)
        sim = threading.Thread(
            target=publisher.run, args=(faults.apply(generate(scenario)), stop), daemon=True)
        observer = Observer(settings, publisher)
        sim.start()
        deadline = time.monotonic() + minutes * 60
        before: Snapshot | None = None
        with Live(console=console, refresh_per_second=2) as live:
            try:
                while sim.is_alive() or time.monotonic() < deadline:
                    now = observer.snapshot()
                    live.update(render(now, before, settings.pue.target,
                                       max(deadline - time.monotonic(), 0)))
                    before = now
                    if time.monotonic() >= deadline and not sim.is_alive():
                        break
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        stop.set()
        sim.join(10)
        time.sleep(3)  # let the last readings reach the database
        summary(console, observer.snapshot(), settings)
    finally:
        stop.set()
        publisher.close()
        if observer is not None:
            observer.close()
        parts.stop_all()
        if already_up:
            console.print("stopped the bridge, worker and sink; the stack stays up (`fjsense down`)")
        else:
            stack.down()
            console.print("stopped the bridge, worker, sink and the local stack")


def summary(console: Console, snap: Snapshot, settings: Settings) -> None:
    table = Table("measure", "value", title="demo summary")
    for label, key in STAGES:
        table.add_row(label, f"{snap.counts[key]:,}")
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        for site, pue in conn.execute(
                "SELECT site, sum(facility_kwh) / nullif(sum(it_kwh), 0) FROM pue_windows "
                "WHERE pue IS NOT NULL GROUP BY site ORDER BY site"):
            table.add_row(f"PUE over the run, {site}", _fmt(pue))
        for state, n in conn.execute(
                "SELECT state, count(*) FROM alert_events GROUP BY state ORDER BY state"):
            table.add_row(f"alert transitions: {state}", str(n))
    console.print(table)
