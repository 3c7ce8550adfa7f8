"""End-to-end benchmark: MQTT publish → bridge → Kafka → worker and sink → rows in PostgreSQL.

On a stack of its own (embedded servers on free ports), in one run:
- raw baselines: Mosquitto's C clients (``mosquitto_pub -l`` → ``mosquitto_sub``), paho QoS 1
  publish → subscribe, the kafka-python producer, an aiokafka consumer, ``COPY`` into
  PostgreSQL;
- ``batched``: devices publish JSON arrays of readings at ``--offered`` readings/s (more than
  the pipeline takes) for ``--seconds``, so the pipeline runs flat out for at least that long;
  rate = readings / (last row stored − first publish); lost and doubled counted by
  (device, seq) against what was published;
- ``latency``: arrays at half the batched rate, each reading stamped when published; p50/p99
  of ``stored_at − ts`` (``stored_at`` is the sink's transaction time);
- ``single``: one reading per message, unpaced while the bridge runs (``readings_per_s``, as
  ``ratio.single_vs_paho_qos1``), and the bridge's own capacity (``drain_per_s``): messages
  queued in its persistent session while it was stopped, then drained;
- ``two_bridges``: the same drain with a second bridge on the shared subscription (the
  queue splits between their sessions), as ``ratio.two_bridges_vs_one``;
- ``kafka_batches``: records and batch objects of the busiest partition of the raw topic, the
  PUE topic and the PUE processor's changelog (one record per batch by design), from
  ``benchmarks/batches.py``;
- ``rss_mb``: peak resident memory of every component and server.
Prints one JSON line. ``python -m benchmarks.e2e [--seconds S] [--offered R] [--single N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from aiokafka import AIOKafkaConsumer
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from app.processes import Components, wait_for
from benchmarks.batches import busiest_partitions
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from fjsense.stack import LocalStack, isolated_settings
from fjsense.stack.service import free_port
from kinds.power.kind import KIND, PUE
from simulators.messages import SimMessage
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap
from streams.app import APP_ID

ARRAY = 50  # readings per message in the batched runs
# counted for batch objects: the raw topic, a derived one, a changelog (one record per batch)
BATCHED_TOPICS = [KIND.raw_topic, PUE.topic, f"{APP_ID}-pue-state-changelog"]
Meter = tuple[str, str, str]  # site, device, circuit


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def meters() -> list[Meter]:
    return [(s.id, d.id, d.spec.circuit) for s, d in load_catalog().devices(KIND.name)]


class Readings:
    """Valid power readings, fast to make: counters rise, seq numbers never repeat in a run."""

    def __init__(self) -> None:
        self.seq = dict.fromkeys((m[1] for m in meters()), 10**9)
        self.kwh = dict.fromkeys(self.seq, 1e6)

    def new_run(self) -> int:
        """Start every meter's seq above all earlier ones; returns the floor of the run."""
        floor = max(self.seq.values()) + 10**6
        self.seq = dict.fromkeys(self.seq, floor)
        return floor

    def payload(self, meter: Meter, stamps: list[float]) -> tuple[bytes, tuple[int, ...]]:
        _, device, circuit = meter
        parts, seqs = [], []
        for at in stamps:
            self.seq[device] += 1
            self.kwh[device] += 0.1
            ts = datetime.fromtimestamp(at, UTC).isoformat()
            parts.append(f'{{"device":"{device}","seq":{self.seq[device]},"ts":"{ts}",'
                         f'"circuit":"{circuit}","kw":500.0,"kwh":{self.kwh[device]:.4f}}}')
            seqs.append(self.seq[device])
        body = parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]"
        return body.encode(), tuple(seqs)

    def history(self, messages: int, size: int, start: datetime, step: float = 10.0
                ) -> list[SimMessage]:
        """``messages`` messages of ``size`` readings ``step`` s apart per meter, in time order."""
        out, t0 = [], start.timestamp()
        ms = meters()
        self.new_run()
        for n in range(messages):
            meter = ms[n % len(ms)]
            k = n // len(ms) * size
            stamps = [t0 + (k + i) * step for i in range(size)]
            payload, seqs = self.payload(meter, stamps)
            out.append(SimMessage(stamps[-1], KIND.mqtt_topic(meter[0], meter[1]), payload,
                                  meter[1], seqs))
        return out


def new_rows(conn: psycopg.Connection, since: float) -> int:
    """Readings newly stored since ``since``, as the sink reports them (a cheap poll)."""
    row = conn.execute("SELECT coalesce(sum(rows_written), 0) FROM pipeline_metrics WHERE "
                       "topic = %s AND ts >= to_timestamp(%s)", [KIND.raw_topic, since])
    return int(row.fetchone()[0])  # type: ignore[index]


def stored_count(conn: psycopg.Connection, since_seq: int) -> tuple[int, int]:
    """(rows, distinct (device, seq)) of power readings with seq above ``since_seq``."""
    row = conn.execute("SELECT count(*), count(DISTINCT (device, seq)) FROM power_readings "
                       "WHERE seq > %s", [since_seq]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def through_pipeline(settings: Settings, conn: psycopg.Connection, messages: list[SimMessage],
                     offered: float | None = None) -> dict[str, float]:
    """Publish (unpaced, or at ``offered`` readings/s), wait until every reading is stored."""
    floor = min(min(m.seqs) for m in messages) - 1
    speed = 0.0
    if offered is not None:  # simulated seconds per second that make ``offered`` readings/s
        total = sum(len(m.seqs) for m in messages)
        speed = offered * (messages[-1].at - messages[0].at) / total
    publisher = DevicePublisher(settings, speed=speed)
    publisher.ack_every, publisher.sync_seconds = 2000, float("inf")
    start = time.time()
    stats = publisher.run(messages)
    published_s = time.time() - start
    publisher.close()
    wait_for(lambda: new_rows(conn, start - 1) >= len(stats.valid), 900, "all readings stored",
             lambda: (new_rows(conn, start - 1), len(stats.valid)))
    last = conn.execute("SELECT extract(epoch FROM max(stored_at)) FROM power_readings "
                        "WHERE seq > %s", [floor]).fetchone()[0]  # type: ignore[index]
    rows, distinct = stored_count(conn, floor)
    elapsed = float(last) - start
    return {"readings": len(stats.valid), "messages": stats.published,
            "publish_s": published_s, "elapsed_s": elapsed,
            "readings_per_s": len(stats.valid) / elapsed,
            "lost": len(stats.valid) - distinct, "doubled": rows - distinct}


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU time so far per process (from /proc)."""
    out = {}
    for name, pid in pids.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        out[name] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def drain(settings: Settings, conn: psycopg.Connection, parts: Components,
          bridges: dict[str, str], messages: list[SimMessage],
          servers: dict[str, int]) -> dict[str, float]:
    """Bridge capacity: with the bridges stopped, the messages queue in their persistent
    sessions; then the bridges start and drain them. Rate over first to last row stored."""
    floor = min(min(m.seqs) for m in messages) - 1
    for name in bridges:
        parts.stop(name)
    publisher = DevicePublisher(settings)
    publisher.ack_every, publisher.sync_seconds = 2000, float("inf")
    stats = publisher.run(messages)
    publisher.close()
    since = time.time()
    for name, command in bridges.items():
        parts.start(name, command)
    pids = {**servers, **{n: p.pid for n, p in parts.procs.items()}}
    before = cpu_seconds(pids)
    wait_for(lambda: new_rows(conn, since - 1) >= len(stats.valid), 600, "the backlog stored",
             lambda: (new_rows(conn, since - 1), len(stats.valid)))
    used = {n: round(t - before.get(n, 0.0), 2) for n, t in cpu_seconds(pids).items()}
    log(f"  CPU seconds while draining: {used}")
    first, last = conn.execute(
        "SELECT extract(epoch FROM min(stored_at)), extract(epoch FROM max(stored_at)) "
        "FROM power_readings WHERE seq > %s", [floor]).fetchone()  # type: ignore[misc]
    rows, distinct = stored_count(conn, floor)
    return {"readings": len(stats.valid), "elapsed_s": float(last - first),
            "readings_per_s": len(stats.valid) / float(last - first),
            "lost": len(stats.valid) - distinct, "doubled": rows - distinct,
            **{f"cpu_s_{n}": t for n, t in used.items()}}


def latency(settings: Settings, conn: psycopg.Connection, readings: Readings, rate: float,
            seconds: float) -> dict[str, float]:
    """Arrays at ``rate`` readings/s, each reading stamped when published (1 ms apart)."""
    floor = readings.new_run()
    ms = meters()
    period = ARRAY / rate  # seconds between messages
    t0 = time.time() + 1.0
    messages = []
    for n in range(int(seconds / period)):
        at = t0 + n * period
        payload, seqs = readings.payload(ms[n % len(ms)],
                                         [at - (ARRAY - 1 - i) / 1000 for i in range(ARRAY)])
        site, device, _ = ms[n % len(ms)]
        messages.append(SimMessage(at, KIND.mqtt_topic(site, device), payload, device, seqs))
    publisher = DevicePublisher(settings, speed=1.0)
    publisher.ack_every, publisher.sync_seconds = 10**9, float("inf")  # keep to the schedule
    since = time.time()
    stats = publisher.run(messages)
    publisher.close()
    wait_for(lambda: new_rows(conn, since - 1) >= len(stats.valid), 120, "latency readings")
    lags = sorted(r[0] for r in conn.execute(
        "SELECT extract(epoch FROM stored_at - ts)::float8 * 1000 FROM power_readings "
        "WHERE seq > %s", [floor]))
    return {"rate_per_s": rate, "p50_ms": statistics.median(lags),
            "p99_ms": lags[int(len(lags) * 0.99) - 1], "max_ms": lags[-1]}


# ---- raw baselines of the same run ----

def baseline_mosquitto_c(settings: Settings, count: int) -> float | None:
    """``mosquitto_pub -l`` (QoS 1) → ``mosquitto_sub``: messages per second, or None."""
    if not (shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub")):
        log("mosquitto_pub/mosquitto_sub not found (apt-get install mosquitto-clients)")
        return None
    creds = Credentials(settings)
    site, device, _ = meters()[0]
    topic = KIND.mqtt_topic(site, device)
    port = str(settings.mqtt.port)
    sub_login, pub_login = creds.mqtt_service("bridge"), creds.device(device)
    sub = subprocess.Popen(["mosquitto_sub", "-p", port, "-q", "1", "-t", topic, "-C",
                            str(count), "-u", sub_login.username, "-P", sub_login.password],
                           stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    lines = b"".join(b'{"device":"x","seq":%d}\n' % i for i in range(count))
    start = time.perf_counter()
    # `-l` stops at the end of its input before its QoS 1 queue drains: keep stdin open
    pub = subprocess.Popen(["mosquitto_pub", "-p", port, "-q", "1", "-t", topic, "-l",
                            "-u", pub_login.username, "-P", pub_login.password],
                           stdin=subprocess.PIPE)
    assert pub.stdin is not None
    pub.stdin.write(lines)
    pub.stdin.flush()
    sub.wait(120)
    elapsed = time.perf_counter() - start
    pub.stdin.close()
    pub.wait(10)
    return count / elapsed


def baseline_paho(settings: Settings, count: int) -> float:
    """paho QoS 1: the devices publishing (as the pipeline runs do), one subscriber."""
    ms = meters()
    messages = [SimMessage(0, KIND.mqtt_topic(ms[n % 12][0], ms[n % 12][1]), b"{}",
                           ms[n % 12][1], (n,)) for n in range(count)]
    return paho_rate(settings, messages, KIND.mqtt_filter)


def paho_rate(settings: Settings, messages: list[SimMessage], topic_filter: str) -> float:
    """Messages/s of ``messages`` published QoS 1 as their devices, through one subscriber."""
    creds = Credentials(settings)
    count = len(messages)
    got, done = [0], threading.Event()

    def on_message(*_: object) -> None:
        got[0] += 1
        if got[0] == count:
            done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.username_pw_set(*vars(creds.mqtt_service("bridge")).values())
    sub.on_message = on_message
    sub.connect("127.0.0.1", settings.mqtt.port)
    sub.subscribe(topic_filter, qos=1)
    sub.loop_start()
    time.sleep(0.5)
    publisher = DevicePublisher(settings)
    publisher.ack_every, publisher.sync_seconds = 2000, float("inf")
    start = time.perf_counter()
    publisher.run(messages)
    done.wait(300)
    elapsed = time.perf_counter() - start
    publisher.close()
    sub.disconnect()
    sub.loop_stop()
    return got[0] / elapsed


def baseline_kafka(settings: Settings, count: int) -> tuple[float, float]:
    """kafka-python producer, then an aiokafka consumer, one reading per record: records/s."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers)
    admin.create_topics([NewTopic("bench.baseline", settings.kafka.partitions, 1)])
    admin.close()
    value, _ = Readings().payload(meters()[0], [time.time()])
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, acks="all", linger_ms=5)
    start = time.perf_counter()
    for n in range(count):
        producer.send("bench.baseline", key=b"site-%d" % (n % 4), value=value)
    producer.flush()
    produced = count / (time.perf_counter() - start)
    producer.close()

    async def consume() -> float:
        consumer = AIOKafkaConsumer("bench.baseline", bootstrap_servers=settings.kafka.servers,
                                    group_id="bench", auto_offset_reset="earliest")
        await consumer.start()
        seen, begin = 0, time.perf_counter()
        while seen < count:
            for records in (await consumer.getmany(timeout_ms=500, max_records=10000)).values():
                seen += len(records)
        rate = count / (time.perf_counter() - begin)
        await consumer.stop()
        return rate

    return produced, asyncio.run(consume())


def baseline_copy(settings: Settings, count: int) -> float:
    """``COPY`` of power-reading rows straight into a table like ``power_readings``."""
    now = datetime.now(UTC)
    rows = [("site", f"dev-{i % 12}", i, now + timedelta(seconds=i), "it", 100.0, float(i), now)
            for i in range(count)]
    return copy_rate(settings, "power_readings",
                     ("site", "device", "seq", "ts", "circuit", "kw", "kwh", "ingest_ts"), rows)


def copy_rate(settings: Settings, like: str, columns: tuple[str, ...], rows: list[tuple]
              ) -> float:
    """Rows/s of ``COPY`` into a temporary table like ``like`` (the sink's raw ceiling)."""
    with psycopg.connect(Credentials(settings).dsn("admin")) as conn:
        conn.execute(f"CREATE TEMP TABLE copy_baseline (LIKE {like} INCLUDING ALL)")
        start = time.perf_counter()
        with conn.cursor().copy(f"COPY copy_baseline ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - start)


def peak_rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Peak resident memory (VmHWM) per process, in MB."""
    out = {}
    for name, pid in pids.items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        peak = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")]
        if peak:  # a process that exited has none
            out[name] = peak[0] / 1024
    return out


def timed(what: str, step: Callable[[], object]) -> object:
    log(what)
    return step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="batched publishing time")
    parser.add_argument("--offered", type=float, default=60_000.0,
                        help="batched readings/s offered, above the pipeline's rate: a backlog "
                        "builds, so the measured rate is sustained for at least --seconds")
    parser.add_argument("--single", type=int, default=60_000, help="single-reading messages")
    parser.add_argument("--rate", type=float, default=None,
                        help="latency run's readings/s (default: half the batched rate)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fjsense-bench-"))
    home.chmod(0o755)
    settings = isolated_settings(home)
    stack = LocalStack(settings)
    stack.up()
    parts = Components(settings, home / "logs", verbose=False)
    report: dict[str, dict[str, float | None]] = {}
    try:
        ensure_topics(settings)
        bootstrap(settings)
        mosquitto_c = timed("baseline: mosquitto_pub → mosquitto_sub (C, QoS 1)",
                            lambda: baseline_mosquitto_c(settings, 100_000))
        paho = timed("baseline: paho QoS 1 publish → subscribe",
                     lambda: baseline_paho(settings, args.single))
        produced, consumed = timed("baseline: kafka-python producer, aiokafka consumer",
                                   lambda: baseline_kafka(settings, 200_000))  # type: ignore[misc]
        copy = timed("baseline: COPY into PostgreSQL", lambda: baseline_copy(settings, 200_000))
        report["baseline"] = {"mosquitto_c_per_s": mosquitto_c, "paho_qos1_per_s": paho,
                              "kafka_python_records_per_s": produced,
                              "aiokafka_consumer_records_per_s": consumed,
                              "copy_rows_per_s": copy}  # type: ignore[dict-item]
        for name in ("bridge", "worker", "sink"):
            parts.start(name)
        parts.wait_ready("bridge")
        readings = Readings()
        servers = {s.name: pid for s in stack.local_services() if (pid := s.pid()) is not None}
        with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
            start = datetime.now(UTC) - timedelta(days=40)
            history = readings.history(int(args.seconds * args.offered / ARRAY), ARRAY, start)
            report["batched"] = timed(  # type: ignore[assignment]
                f"batched: arrays of {ARRAY} readings, {args.offered:,.0f}/s offered for "
                f"{args.seconds:.0f} s", lambda: through_pipeline(settings, conn, history,
                                                                 args.offered))
            report["batched"]["offered_per_s"] = args.offered
            # event time only moves forward from phase to phase, as a site's would
            single = readings.history(args.single, 1, start + timedelta(days=20))
            report["single"] = timed(  # type: ignore[assignment]
                f"single: {args.single} one-reading messages, live",
                lambda: through_pipeline(settings, conn, single))
            backlog = readings.history(args.single, 1, start + timedelta(days=25))
            report["single"]["drain_per_s"] = timed(  # type: ignore[index]
                f"single: {args.single} queued one-reading messages, one bridge draining",
                lambda: drain(settings, conn, parts, {"bridge": "bridge"}, backlog, servers)
            )["readings_per_s"]  # type: ignore[index]
            rate = args.rate or report["batched"]["readings_per_s"] / 2  # type: ignore[operator]
            report["latency"] = timed(  # type: ignore[assignment]
                f"latency: {rate:,.0f} readings/s for 20 s",
                lambda: latency(settings, conn, readings, rate, 20.0))
            second = f"bridge --client-id fjsense-bridge-2 --health-port {free_port()}"
            parts.start("bridge-2", second)
            parts.wait_ready("bridge-2", port=int(second.split()[-1]))
            two = readings.history(args.single, 1, datetime.now(UTC), step=0.01)
            report["two_bridges"] = timed(  # type: ignore[assignment]
                f"two bridges: {args.single} queued one-reading messages, both draining",
                lambda: drain(settings, conn, parts, {"bridge": "bridge", "bridge-2":
                              second}, two, servers))
        report["kafka_batches"] = busiest_partitions(settings.kafka.servers, BATCHED_TOPICS,
                                                     settings.kafka.partitions)
        pids = {name: proc.pid for name, proc in parts.procs.items()}
        pids.update(servers)
        report["rss_mb"] = peak_rss_mb(pids)  # type: ignore[assignment]
        report["ratio"] = {
            "single_vs_paho_qos1": report["single"]["readings_per_s"] / paho,  # type: ignore[operator]
            "two_bridges_vs_one": (report["two_bridges"]["readings_per_s"]  # type: ignore[operator]
                                   / report["single"]["drain_per_s"]),  # type: ignore[operator]
            "batched_vs_copy": report["batched"]["readings_per_s"] / copy,  # type: ignore[operator]
            "batched_vs_paho_qos1": report["batched"]["readings_per_s"] / paho,  # type: ignore[operator]
        }
        print(json.dumps({section: {k: None if v is None else round(v, 3)
                                    for k, v in values.items()}
                          for section, values in report.items()}))
    finally:
        parts.stop_all()
        stack.down()


if __name__ == "__main__":
    main()
