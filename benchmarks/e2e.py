"""End-to-end benchmark: MQTT publish → bridge → Kafka → worker → sink → row in PostgreSQL.

Measures, on a stack of its own (embedded servers on free ports):
- sustained throughput: N readings published unpaced, until every one is stored exactly once;
- latency: readings published at a steady rate, stamped with their publish time; p50/p99 of
  ``stored_at - ts`` (``stored_at`` is the sink's transaction time);
- the raw baselines of the same run: paho QoS 1 publish → subscribe, and ``COPY`` into
  PostgreSQL; and the ratios of the pipeline to each.
Prints one JSON line. `python -m benchmarks.e2e [--readings N] [--rate R] [--seconds S]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg

from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.processes import Components, wait_for
from fjsense.settings import Settings
from fjsense.stack import LocalStack
from fjsense.stack.service import free_port
from simulators.messages import SimMessage
from simulators.power import PowerScenario, generate, scenario_sites
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def baseline_mqtt(settings: Settings, count: int) -> float:
    """paho QoS 1: one device publishing, one subscriber receiving; messages per second."""
    creds = Credentials(settings)
    site, device = load_catalog().devices("power")[0]
    topic = f"fj/power/{site.id}/{device.id}"
    received = threading.Event()
    got = [0]

    def on_message(*_: object) -> None:
        got[0] += 1
        if got[0] == count:
            received.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.username_pw_set(*vars(creds.mqtt_service("bridge")).values())
    sub.on_message = on_message
    sub.connect("127.0.0.1", settings.mqtt.port)
    sub.subscribe(topic, qos=1)
    sub.loop_start()
    time.sleep(0.5)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.username_pw_set(*vars(creds.device(device.id)).values())
    pub.connect("127.0.0.1", settings.mqtt.port)
    pub.loop_start()
    payload = b'{"device": "x", "seq": 0}'
    start = time.perf_counter()
    infos = [pub.publish(topic, payload, qos=1) for _ in range(count)]
    received.wait(120)
    elapsed = time.perf_counter() - start
    for info in infos[-10:]:
        info.wait_for_publish(10)
    for client in (pub, sub):
        client.disconnect()
        client.loop_stop()
    return got[0] / elapsed


def baseline_copy(settings: Settings, count: int) -> float:
    """``COPY`` of power-reading rows straight into an indexed table; rows per second."""
    rows = [(f"dev-{i % 12}", i, datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=i),
             "site", "it", 100.0, float(i), datetime.now(UTC)) for i in range(count)]
    with psycopg.connect(Credentials(settings).dsn("admin")) as conn:
        conn.execute("CREATE TEMP TABLE copy_baseline (LIKE power_readings INCLUDING ALL)")
        start = time.perf_counter()
        with conn.cursor().copy("COPY copy_baseline (device, seq, ts, site, circuit, kw, kwh, "
                                "ingest_ts) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return count / (time.perf_counter() - start)


def stored(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM power_readings").fetchone()[0]  # type: ignore[index]


def throughput(settings: Settings, conn: psycopg.Connection, readings: int) -> dict[str, float]:
    sites = scenario_sites(load_catalog(), 4)
    steps = readings // 12
    scenario = PowerScenario(sites, datetime(2026, 3, 1, tzinfo=UTC),
                             timedelta(seconds=10 * (steps - 1)))
    messages = list(generate(scenario))
    publisher = DevicePublisher(settings)
    publisher.ack_every = 5000  # measure the pipeline, not the simulator's skew bound
    before = stored(conn)
    start = time.perf_counter()
    stats = publisher.run(messages)
    published_s = time.perf_counter() - start
    wait_for(lambda: stored(conn) - before >= len(stats.valid), 600, "all readings stored",
             lambda: stored(conn) - before)
    elapsed = time.perf_counter() - start
    publisher.close()
    distinct = conn.execute("SELECT count(DISTINCT (device, seq)) FROM power_readings "
                            "WHERE ts >= %s", [scenario.start]).fetchone()[0]  # type: ignore[index]
    return {"readings": len(messages), "publish_s": published_s, "elapsed_s": elapsed,
            "readings_per_s": len(messages) / elapsed,
            "lost": len(messages) - distinct, "doubled": stored(conn) - before - distinct}


def latency(settings: Settings, conn: psycopg.Connection, rate: float, seconds: float
            ) -> dict[str, float]:
    devices = [(s.id, d.id, d.circuit) for s, d in load_catalog().devices("power")]
    t0 = time.time() + 1.0
    messages = []
    for i in range(int(rate * seconds)):
        site, device, circuit = devices[i % len(devices)]
        at = t0 + i / rate
        seq = 10_000_000 + i // len(devices)
        body = {"device": device, "seq": seq, "ts": datetime.fromtimestamp(at, UTC).isoformat(),
                "circuit": circuit, "kw": 500.0, "kwh": 1e6 + i}
        messages.append(SimMessage(at, f"fj/power/{site}/{device}", json.dumps(body).encode(),
                                   device, seq))
    publisher = DevicePublisher(settings, speed=1.0)
    publisher.ack_every = 10**9  # paced publishing: waiting for acks would skew the schedule
    stats = publisher.run(messages)
    publisher.close()
    wait_for(lambda: conn.execute("SELECT count(*) FROM power_readings WHERE seq >= 10000000"
                                  ).fetchone()[0] >= len(stats.valid), 120, "latency readings")
    lags = sorted(r[0] for r in conn.execute(
        "SELECT extract(epoch FROM stored_at - ts)::float8 * 1000 FROM power_readings "
        "WHERE seq >= 10000000"))
    return {"rate_per_s": rate, "p50_ms": statistics.median(lags),
            "p99_ms": lags[int(len(lags) * 0.99) - 1], "max_ms": lags[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=24_000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fjsense-bench-"))
    home.chmod(0o755)
    settings = Settings(mqtt={"port": free_port()}, kafka={"port": free_port()},
                        database={"port": free_port()}, stack={"home": home},
                        sink={"max_batch": 5000})
    stack = LocalStack(settings)
    stack.up()
    parts = Components(settings, home / "logs", verbose=False)
    try:
        ensure_topics(settings)
        bootstrap(settings)
        log("baseline: paho QoS 1 publish → subscribe")
        mqtt_rps = baseline_mqtt(settings, 20_000)
        log("baseline: COPY into PostgreSQL")
        copy_rps = baseline_copy(settings, 100_000)
        for name in ("bridge", "worker", "sink"):
            parts.start(name)
        parts.wait_bridge_subscribed()
        with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
            log(f"pipeline throughput: {args.readings} readings unpaced")
            result = throughput(settings, conn, args.readings)
            log(f"pipeline latency: {args.rate}/s for {args.seconds}s")
            lat = latency(settings, conn, args.rate, args.seconds)
        report = {
            "pipeline": result, "latency": lat,
            "baseline": {"paho_qos1_pub_sub_per_s": mqtt_rps, "copy_rows_per_s": copy_rps},
            "ratio": {"pipeline_vs_paho_qos1": result["readings_per_s"] / mqtt_rps,
                      "pipeline_vs_copy": result["readings_per_s"] / copy_rps},
        }
        print(json.dumps({section: {k: round(v, 3) for k, v in values.items()}
                          for section, values in report.items()}))
    finally:
        parts.stop_all()
        stack.down()


if __name__ == "__main__":
    main()
