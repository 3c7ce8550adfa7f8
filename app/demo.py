"""`fjsense demo`: the whole platform on the embedded stack, with a live view and a summary.

Starts Mosquitto, Tansu and PostgreSQL, migrates, writes the Grafana dashboards, runs the
bridge, worker and sink under the `fjsense run` supervisor (each its own process), and replays every kind's demo scenario (each
with an event that raises an alert) until the time is up; then stops all. Everything it shows
comes from the kind registry.
"""

from __future__ import annotations

import heapq
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from kafka import KafkaConsumer, TopicPartition
from psycopg import sql
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from app.processes import Components
from dashboards.build import write_provisioning
from fjsense import output, topics
from fjsense.catalog import catalog_of
from fjsense.credentials import Credentials
from fjsense.health import probe
from fjsense.kafka_admin import ensure_topics
from fjsense.kafka_ends import READ_WAIT_MS, end_offsets
from fjsense.registry import SensorKind, registry
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from simulators.broadcast_points import SimulatedPoints
from simulators.cli import simulator_of
from simulators.faults import Faults
from simulators.messages import arrays
from simulators.publisher import DevicePublisher

# a device's array spans at most this much event time: ten readings of a meter (100 s), not
# ten of a buoy (100 min, which would make it look silent beside the others)
ARRAY_SPAN_SECONDS = 120.0


def stages(kinds: dict[str, SensorKind]) -> list[tuple[str, str]]:
    """(label, counter) rows of the pipeline table: Kafka topics and tables of every kind."""
    rows = [("devices → MQTT (messages)", "published")]
    for kind in kinds.values():
        rows.append((f"bridge → Kafka {kind.raw_topic} (records)", kind.raw_topic))
        rows.append((f"sink → {kind.table.name} (unique readings)", kind.table.name))
        for stream in kind.derived:
            rows.append((f"worker → {stream.topic} (records)", stream.topic))
    rows.append(("dead letters (records)", topics.DEADLETTER))
    return rows


@dataclass
class Snapshot:
    at: float
    rows: list[tuple[str, str]]  # (label, counter) of the pipeline table
    counts: dict[str, int]
    views: list[tuple[SensorKind, list[tuple]]]
    firing: list[tuple]
    components: dict[str, dict]  # what the supervisor says of each component


class Observer:
    """Reads the pipeline from the outside: Kafka end offsets and database rows."""

    def __init__(self, settings: Settings, publisher: DevicePublisher) -> None:
        self.settings = settings
        self.kinds = registry(settings.plugins)
        self.publisher = publisher
        self.health = settings.health
        self.kafka = KafkaConsumer(bootstrap_servers=settings.kafka.servers,
                                   enable_auto_commit=False, fetch_max_wait_ms=READ_WAIT_MS)
        self.db = psycopg.connect(Credentials(settings).dsn("reader"), autocommit=True)

    def records(self, topics: list[str]) -> dict[str, int]:
        """Records in each topic (read together: finding the ends reads each last batch)."""
        parts = [TopicPartition(topic, p) for topic in topics
                 for p in self.kafka.partitions_for_topic(topic) or ()]
        ends = end_offsets(self.settings, self.kafka, parts) if parts else {}
        return {topic: sum(end for tp, end in ends.items() if tp.topic == topic)
                for topic in topics}

    def count(self, table: str) -> int:
        row = self.db.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        return int(row.fetchone()[0])  # type: ignore[index]

    def snapshot(self) -> Snapshot:
        counts = {"published": self.publisher.stats.published}
        rows = stages(self.kinds)
        counts.update(self.records([key for _, key in rows[1:] if "." in key]))
        counts.update({key: self.count(key) for _, key in rows[1:] if "." not in key})
        views = [(kind, self.db.execute(
            kind.live_view.sql, kind.live_view.parameters(self.settings)).fetchall())  # type: ignore[arg-type]
            for kind in self.kinds.values() if kind.live_view is not None]
        firing = self.db.execute(
            "SELECT group_key, rule || CASE WHEN inhibited IS NULL THEN '' ELSE ' (inhibited: ' "
            "|| inhibited || ')' END, at, value FROM (SELECT DISTINCT ON (rule, group_key) * "
            "FROM alert_events WHERE state <> 'pending' ORDER BY rule, group_key, at DESC) last "
            "WHERE state = 'firing' ORDER BY at").fetchall()
        run = probe(self.health.host, self.health.run_port) or {}
        return Snapshot(time.monotonic(), rows, counts, views, firing, run.get("components", {}))

    def close(self) -> None:
        self.kafka.close()
        self.db.close()


SHOWN_ALERTS = 12  # firing alerts listed in the live view; the rest are counted


def render(now: Snapshot, before: Snapshot | None, remaining: float,
           kinds: dict[str, SensorKind], height: int) -> Group:
    """Components and firing alerts first, then the pipeline, then as many kinds' own views as
    ``height`` lines hold; the others are folded into one line (the summary shows them all)."""
    supervised = " · ".join(f"{name} {c['state']} (restarts {c['restarts']})"
                            for name, c in now.components.items()) or "supervisor not answering"
    parts: list[Table | Panel | str] = [
        Panel(f"{supervised}\n{remaining:,.0f} s left · Ctrl-C stops early",
              title="components", expand=False)]
    alerts = Table("station", "rule", "since", "value",
                   title=f"firing alerts ({len(now.firing)})")
    for site, rule, at, value in now.firing[:SHOWN_ALERTS]:
        alerts.add_row(site, rule, f"{at:%Y-%m-%d %H:%M}", _fmt(value))
    if len(now.firing) > SHOWN_ALERTS:
        alerts.add_row(f"… and {len(now.firing) - SHOWN_ALERTS} more", "", "", "")
    parts += [alerts, pipeline_table(now, before, kinds)]
    left = height - 4 - (min(len(now.firing), SHOWN_ALERTS + 1) + 5) - (len(kinds) + 5) - 1
    folded = []
    for kind, rows in now.views:
        needed = len(rows) + 5  # title, borders, header
        if needed <= left:
            parts.append(live_view(kind, rows))
            left -= needed
        else:
            folded.append(kind.name)
    if folded:
        parts.append(f"(folded for a short screen: {', '.join(folded)}; the summary at the end "
                     "shows every view)")
    return Group(*parts)


def progress_line(now: Snapshot, remaining: float, kinds: dict[str, SensorKind]) -> str:
    """The demo's state in one plain line, for output that is not a terminal."""
    stored = sum(now.counts[kind.table.name] for kind in kinds.values())
    return (f"{now.counts['published']:,} messages published, {stored:,} readings stored, "
            f"{now.counts[topics.DEADLETTER]:,} dead letters, {len(now.firing)} alerts firing, "
            f"{remaining:,.0f} s left")


def pipeline_table(now: Snapshot, before: Snapshot | None,
                   kinds: dict[str, SensorKind]) -> Table:
    """One row per kind (the summary lists every topic and table): short enough that the
    kinds' own views below it stay on the screen."""
    seconds = now.at - before.at if before is not None and now.at > before.at else 0.0

    def rate(key: str) -> str:
        return f"{(now.counts[key] - before.counts[key]) / seconds:,.0f}" if before and seconds else ""

    table = Table("kind", "bridge → Kafka", "stored readings", "per second", "derived records",
                  title=f"pipeline: {now.counts['published']:,} messages published "
                        f"({rate('published') or '…'}/s), "
                        f"{now.counts[topics.DEADLETTER]:,} dead letters")
    for kind in kinds.values():
        derived = sum(now.counts[stream.topic] for stream in kind.derived)
        table.add_row(kind.name, f"{now.counts[kind.raw_topic]:,}",
                      f"{now.counts[kind.table.name]:,}", rate(kind.table.name), f"{derived:,}")
    return table


def live_view(kind: SensorKind, rows: list[tuple]) -> Table:
    assert kind.live_view is not None
    view = Table(*kind.live_view.columns, title=f"{kind.name}: {kind.live_view.title}")
    for row in rows:
        view.add_row(*(_fmt(v) for v in row))
    return view


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def run_demo(settings: Settings, minutes: float, speed: float) -> None:
    console = output.console()
    kinds = registry(settings.plugins)
    stack = LocalStack(settings)
    already_up = all(service.pid() is not None for service in stack.local_services())
    with console.status("starting Mosquitto, Tansu and PostgreSQL…"):
        stack.up()
        ensure_topics(settings)
        from sinks.migrate import bootstrap

        bootstrap(settings)
        written = write_provisioning(settings, settings.home / "grafana")
    console.print(f"dashboards written: {', '.join(str(p) for p in written[:-2])} (+ provisioning)")
    parts = Components(settings, settings.home / "logs", verbose=False)
    publisher = DevicePublisher(settings, speed=speed)
    observer = None
    points: SimulatedPoints | None = None
    stop = threading.Event()
    span = timedelta(minutes=minutes * speed)
    now = datetime.now(UTC)
    catalog = catalog_of(settings)
    for kind in kinds.values():  # before the worker starts, so it begins with what they made
        if kind.demo_setup is not None:
            with console.status(f"{kind.name}: preparing the demo…"):
                console.print(kind.load("demo_setup")(settings, now, span))
    try:
        with console.status("starting bridge, worker and sink under `fjsense run`…"):
            parts.start("run")  # restarts any of them that exits
            parts.wait_ready("run", timeout=120)
        scenarios = [simulator_of(k).demo(settings, catalog, now, span)
                     for k in kinds.values() if k.simulator is not None]
        faults = Faults(duplicate=0.01, reorder=0.02, malformed=0.002, seed=1)
        messages = arrays(faults.apply(heapq.merge(*scenarios, key=lambda m: m.at)), 1, 10,
                          max_span=ARRAY_SPAN_SECONDS)
        sim = threading.Thread(target=publisher.run, args=(messages, stop), daemon=True)
        # the coast's broadcast points listen and acknowledge: the Xiamen surge reaches them
        points = SimulatedPoints(settings, catalog.broadcast_points, lambda _heard: None)
        observer = Observer(settings, publisher)
        sim.start()
        watch(console, observer, sim, time.monotonic() + minutes * 60, kinds)
        stop.set()
        sim.join(10)
        time.sleep(3)  # let the last readings reach the database
        summary(console, observer.snapshot(), settings)
        broadcasts(console, settings)
        next_steps(console, settings)
    finally:
        stop.set()
        publisher.close()
        if points is not None:
            points.close()
        if observer is not None:
            observer.close()
        parts.stop_all()
        if already_up:
            console.print("stopped the bridge, worker, sink and notifier; the stack stays up (`fjsense down`)")
        else:
            stack.down()
            console.print("stopped the bridge, worker, sink, notifier and the local stack")


PROGRESS_SECONDS = 10.0  # a plain progress line this often when output is not a terminal


def watch(console: Console, observer: Observer, sim: threading.Thread, deadline: float,
          kinds: dict[str, SensorKind]) -> None:
    """Until the time is up and the simulators are done: a live view on a terminal, a plain
    progress line every ``PROGRESS_SECONDS`` otherwise (``| tee`` shows something at once)."""
    before: Snapshot | None = None
    printed = 0.0
    try:
        with Live(console=console, refresh_per_second=2,
                  auto_refresh=console.is_terminal) as live:
            while sim.is_alive() or time.monotonic() < deadline:
                snap = observer.snapshot()
                remaining = max(deadline - time.monotonic(), 0)
                if console.is_terminal:
                    live.update(render(snap, before, remaining, kinds, console.size.height))
                elif time.monotonic() - printed >= PROGRESS_SECONDS:
                    print(progress_line(snap, remaining, kinds), flush=True)
                    printed = time.monotonic()
                before = snap
                if time.monotonic() >= deadline and not sim.is_alive():
                    break
                time.sleep(1)
    except KeyboardInterrupt:
        pass


def next_steps(console: Console, settings: Settings) -> None:
    """What a new user can do next, where things went."""
    home = settings.home
    console.print(Panel("\n".join([
        "keep the components running:  fjsense run   (the stack stays up: fjsense up / down)",
        "look at the data:             fjsense db shell --role reader   (psql as that role)",
        "firing alerts and history:    fjsense alerts list · fjsense alerts history",
        (f"notifications:                the log receiver writes {home / 'logs' / 'notify.log'};"
        " webhook and e-mail go where alerts.webhook_url, alerts.smtp_host say"),
        (f"dashboards:                   written to {home / 'grafana'}; for a Grafana of your "
        "own: fjsense dashboards build --local --out DIR (provisioning for this embedded "
        "database), then point Grafana's provisioning at DIR"),
        "refused messages:             fjsense deadletters list",
        ("the province's report:        make report   (fjsense report --period week --out "
         "report: report.html, report.json, report.pdf)")]),
        title="next steps", expand=False))


def summary(console: Console, snap: Snapshot, settings: Settings) -> None:
    table = Table("measure", "value", title="demo summary")
    for label, key in snap.rows:
        table.add_row(label, f"{snap.counts[key]:,}")
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        for state, n in conn.execute(
                "SELECT state, count(*) FROM alert_events GROUP BY state ORDER BY state"):
            table.add_row(f"alert transitions: {state}", str(n))
    console.print(table)
    for kind, rows in snap.views:
        console.print(live_view(kind, rows))


BROADCASTS = (
    "SELECT target, min(created_at) AS first, sum(attempts) AS sent, "
    "count(acked_at) AS acknowledged, string_agg(DISTINCT e->>'rule', ', ') AS rules "
    "FROM alert_notifications, jsonb_array_elements(events) e WHERE target IS NOT NULL "
    "GROUP BY target ORDER BY first")


def broadcasts(console: Console, settings: Settings) -> None:
    """Which of the coast's broadcast points the demo's warnings reached (the Xiamen surge's
    at least), and whether they acknowledged."""
    names = {p.id: p.name for p in catalog_of(settings).broadcast_points}
    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        rows = conn.execute(BROADCASTS).fetchall()
    if not rows:
        console.print("broadcast points: no coast warning fired in this run")
        return
    table = Table("point", "first broadcast", "sent", "acknowledged", "rules",
                  title="broadcast points reached")
    for point, first, sent, acked, rules in rows:
        table.add_row(names.get(point, point), f"{first:%H:%M:%S}", str(sent), str(acked),
                      rules)
    console.print(table)
