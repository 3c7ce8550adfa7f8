"""Alert-engine benchmark: 1,000 rules over 10,000 stations.

In one run:
- ``engine``: readings/s through the worker's own step (decode, the rules watching each
  station, the lifecycle, transitions as records), in process, one Kafka record per reading
  as a meter sends it; raw baseline ``bare``: the same readings decoded and compared with
  their station's threshold in plain Python (``ratio.engine_vs_bare``);
- ``latency``: on a stack of its own (embedded Tansu and PostgreSQL on free ports; worker,
  sink and ``fjsense notify`` as child processes; a real webhook receiver), readings enter
  ``fj.raw.power`` at ``--rate`` readings/s for ``--seconds``, live event time, and every
  ``--breach-every``-th one breaches its station's rule (a station breaches once), sent in
  bursts every ``ingest.linger_ms`` as the bridge sends them. Latency is
  webhook receipt − the reading's send, p50/p99, and ``lost`` counts breaches never notified;
  raw baseline: a Kafka produce → consume round trip plus a POST to the same receiver
  (``ratio.p99_vs_floor``). The MQTT → Kafka leg is ``benchmarks/e2e.py``'s.
Prints one JSON line. ``python -m benchmarks.alerts [--seconds S] [--rate R]``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer

from app.processes import Components
from benchmarks.e2e import log
from benchmarks.stack import embedded_stack
from fjsense.catalog import load_catalog
from fjsense.rules import parse_rules
from fjsense.settings import Settings
from fjsense.stack import isolated_settings
from streams.alerts import SourceAlerts
from streams.durable import guarded_step

STATIONS, RULES, PER_RULE = 10_000, 1_000, 10
SOURCE = "fj.raw.power"
KINDS = ("above", "range", "rate")  # rule kinds, in turn


def station(n: int) -> str:
    return f"bench-{n:05d}"


def write_catalog(path: Path) -> None:
    """10,000 small datacenters in 10 regions, one facility meter each."""
    lines = ["regions:"] + [f"  - {{id: bench-r{r}, name: Bench region {r}}}" for r in range(10)]
    lines += ["sites:"] + [
        f"  - {{id: {station(n)}, name: Bench site {n}, kind: power, region: bench-r{n % 10}, "
        f"lat: 25.0, lon: 119.0, it_design_kw: 1000, devices: [{{id: {station(n)}-m, "
        f"circuit: facility, rated_kw: 2000}}]}}" for n in range(STATIONS)]
    path.write_text("\n".join(lines) + "\n")


def rules_text() -> str:
    """1,000 rules of three kinds, each watching its own 10 stations; breaches notified at once."""
    rules = []
    for r in range(RULES):
        scope = ", ".join(station(r * PER_RULE + i) for i in range(PER_RULE))
        kind = KINDS[r % len(KINDS)]
        test = {"above": "above: 900, clear: 800",
                "range": "kind: range, lo: 50, hi: 900",
                "rate": "kind: rate, above: 1"}[kind]  # kW/s
        rules.append(f"  - {{name: r{r:04d}, source: {SOURCE}, metric: kw, {test}, "
                     f"severity: critical, scope: {{stations: [{scope}]}}}}")
    return ("shipped: false\nrules:\n" + "\n".join(rules) + "\nroutes:\n  - {receivers: [webhook], "
            "group_by: [rule, group_key], group_wait: 0s, group_interval: 0s, "
            "repeat_interval: 1h}\n")


def reading(n: int, seq: int, kw: float, at: float) -> bytes:
    return json.dumps([{"device": f"{station(n)}-m", "seq": seq,
                        "ts": datetime.fromtimestamp(at, UTC).isoformat(),
                        "circuit": "facility", "kw": kw, "kwh": 10.0 + seq}]).encode()


def engine(settings: Settings, count: int) -> dict[str, float]:
    """Readings/s through the worker's step, and through bare comparisons of the same."""
    catalog = load_catalog(settings.catalog.file)
    rules = parse_rules(rules_text(), "bench-rules.yaml", settings, catalog)
    processor = SourceAlerts(SOURCE, rules, catalog, settings)
    rng = random.Random(7)
    t0 = time.time() - 3600
    records = []
    for i in range(count):
        n = rng.randrange(STATIONS)
        kw = 950.0 if rng.random() < 0.01 else rng.uniform(400, 600)
        records.append((station(n), reading(n, i, kw, t0 + i * 0.01)))
    states: dict[str, dict] = {}
    fired = 0
    start = time.perf_counter()
    for key, value in records:
        states[key], outputs = guarded_step(processor, processor.stream, states.get(key, {}),
                                            key, value, time.time())
        fired += len(outputs)
    through = count / (time.perf_counter() - start)
    limits = {station(n): 900.0 for n in range(STATIONS)}
    breaches = 0
    start = time.perf_counter()
    for key, value in records:
        for item in json.loads(value):
            breaches += item["kw"] > limits[key]
    bare = count / (time.perf_counter() - start)
    return {"readings_per_s": through, "bare_per_s": bare, "transitions": fired,
            "breaches": breaches}


class Receiver:
    """A real webhook receiver: when each firing alert arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        outer = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                for alert in body.get("alerts", []):
                    if alert["state"] == "firing":
                        outer.arrived.setdefault(alert["group_key"], now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def floor(settings: Settings, receiver: Receiver, rounds: int = 300) -> dict[str, float]:
    """The raw path's p99: a Kafka record produced → consumed, and a POST to the receiver."""
    topic = "bench.alerts.floor"
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, linger_ms=0)
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka.servers,
                             auto_offset_reset="latest", consumer_timeout_ms=100)
    producer.send(topic, b"warm-up").get(10)
    while not consumer.assignment():
        consumer.poll(100)
    for tp in consumer.assignment():
        consumer.position(tp)  # the start is fixed before the first timed record is sent
    trips = []
    for _ in range(rounds):
        sent = time.time()
        producer.send(topic, b"x").get(10)
        while not consumer.poll(50):
            if time.time() - sent > 10:
                raise RuntimeError("a Kafka record did not come back within 10 s")
        trips.append(time.time() - sent)
    producer.close()
    consumer.close()
    posts = []
    for _ in range(rounds):
        sent = time.time()
        urllib.request.urlopen(urllib.request.Request(
            receiver.url, data=b'{"alerts": []}', method="POST"), timeout=10).close()
        posts.append(time.time() - sent)
    return {"kafka_round_trip_p99_s": percentile(trips, 99), "post_p99_s": percentile(posts, 99)}


def latency(settings: Settings, receiver: Receiver, rate: float, seconds: float,
            breach_every: int) -> dict[str, float | None]:
    """Live readings at ``rate``/s; from each breaching reading's send to its notification.
    They reach Kafka as the bridge sends them: in bursts every ``ingest.linger_ms``."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers,
                             linger_ms=settings.ingest.linger_ms)
    rng = random.Random(11)
    order = list(range(STATIONS))
    rng.shuffle(order)  # stations in the order they breach, each once
    seqs = [0] * STATIONS
    sent_at: dict[str, float] = {}

    def paced(total: int, pick: Callable[[int], tuple[int, bool]]) -> float:
        start = time.time()
        for i in range(total):
            if (pause := start + i / rate - time.time()) > 0:
                time.sleep(pause)
            n, breach = pick(i)
            seqs[n] += 1
            now = time.time()
            producer.send(SOURCE, key=station(n).encode(),
                          value=reading(n, seqs[n], 950.0 if breach else 500.0, now))
            if breach:
                sent_at[station(n)] = now
        producer.flush()
        return total / (time.time() - start)

    def measured(i: int) -> tuple[int, bool]:
        if i % breach_every == 0 and len(sent_at) < STATIONS:
            return order[len(sent_at)], True
        return rng.randrange(STATIONS), False

    paced(STATIONS, lambda i: (i, False))  # every station reports once: a rate has a start
    offered = paced(int(rate * seconds), measured)
    producer.close()
    deadline = time.time() + 60  # then the breaches not notified count as lost
    while set(sent_at) - set(receiver.arrived) and time.time() < deadline:
        time.sleep(0.2)
    delays = [receiver.arrived[s] - sent_at[s] for s in sent_at if s in receiver.arrived]
    return {"readings_per_s": offered, "breaches": len(sent_at),
            "lost": len(sent_at) - len(delays),
            "p50_s": statistics.median(delays) if delays else None,
            "p99_s": percentile(delays, 99) if delays else None,
            "max_s": max(delays) if delays else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="latency run's length")
    parser.add_argument("--rate", type=float, default=1000.0, help="latency run's readings/s")
    parser.add_argument("--breach-every", type=int, default=100,
                        help="one reading in this many breaches its station's rule")
    parser.add_argument("--engine-readings", type=int, default=200_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fjsense-bench-alerts-"))
    home.chmod(0o755)
    write_catalog(home / "stations.yaml")
    (home / "rules.yaml").write_text(rules_text())
    receiver = Receiver()
    base = isolated_settings(home)
    settings = base.model_copy(update={
        "catalog": base.catalog.model_copy(update={"file": home / "stations.yaml"}),
        "alerts": base.alerts.model_copy(update={"rules_file": home / "rules.yaml",
                                                 "webhook_url": receiver.url})})
    log(f"engine: {args.engine_readings:,} readings, {RULES:,} rules, {STATIONS:,} stations")
    judged = engine(settings, args.engine_readings)
    try:
        with embedded_stack(settings, home) as (_, parts):
            run_pipeline(settings, parts, receiver, args, judged)
    finally:
        receiver.close()
        shutil.rmtree(home, ignore_errors=True)


def run_pipeline(settings: Settings, parts: Components, receiver: Receiver,
                 args: argparse.Namespace, judged: dict[str, float]) -> None:
    """The floor, then the latency through worker, sink and notifier; prints the JSON line."""
    log("baseline: Kafka round trip, POST to the receiver")
    raw = floor(settings, receiver)
    for name in ("worker", "sink", "notify"):
        parts.start(name)
    for name in ("worker", "sink", "notify"):
        parts.wait_ready(name)
    log(f"latency: {args.rate:,.0f} readings/s for {args.seconds:.0f} s, "
        f"a breach every {args.breach_every}")
    delays = latency(settings, receiver, args.rate, args.seconds, args.breach_every)
    p99 = delays["p99_s"]
    ratio = {"engine_vs_bare": judged["readings_per_s"] / judged["bare_per_s"],
             "p99_vs_floor": None if p99 is None else
             p99 / (raw["kafka_round_trip_p99_s"] + raw["post_p99_s"])}
    report: dict[str, Mapping[str, float | None]] = {
        "engine": judged, "floor": raw, "latency": delays, "ratio": ratio}
    print(json.dumps({section: {k: None if v is None else round(v, 4)
                                for k, v in values.items()}
                      for section, values in report.items()}))


if __name__ == "__main__":
    main()
