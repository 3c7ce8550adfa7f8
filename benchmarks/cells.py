"""5G measurement reports through the pipeline: MR samples/s through the bridge, the coverage
processors and the sink, against raw baselines measured in the same run.

On a stack of its own (embedded servers on free ports):
- raw baselines: paho QoS 1 publish → subscribe of the same MR messages, the kafka-python
  producer sending them, ``COPY`` of ``mr_readings`` rows into PostgreSQL, and both coverage
  stages stepped in this process with no Kafka (the processors' own ceiling);
- the pipeline: ``--cells`` cells publish ``--seconds`` worth of batches of ``--samples``
  samples each, as fast as the broker takes them; the bridge's rate ends when every message
  is acknowledged (its readings are in Kafka), the sink's when every batch is in
  ``mr_readings``, the processors' when the district totals in ``coverage_windows`` hold
  every sample; lost and doubled counted by (device, seq) and by samples.
Prints one JSON line. ``python -m benchmarks.cells [--seconds 60] [--rate 60000]``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from kafka import KafkaProducer

from app.processes import Components, wait_for
from benchmarks.e2e import copy_rate, paho_rate, peak_rss_mb, timed
from fjsense.catalog import load_catalog
from fjsense.credentials import Credentials
from fjsense.kafka_admin import ensure_topics
from fjsense.settings import Settings
from fjsense.stack import LocalStack, isolated_settings
from kinds.cells.coverage import AreaSums, CoverageParts, CoverageSums, SiteCounts
from kinds.cells.mr import KIND as MR
from kinds.cells.mr import MrReading
from kinds.cells.simulator import CellsSimulator
from simulators.messages import SimMessage
from simulators.publisher import DevicePublisher
from sinks.migrate import bootstrap
from streams.contract import Batch

Cell = tuple[str, str, float, float]  # site, cell, lat, lon


def cells(count: int) -> list[Cell]:
    """``count`` cells of Fuzhou's sites, a few per district."""
    sites = CellsSimulator.sites(load_catalog(), per_district=max(1, count // 39 + 1))
    found = [(s.id, d.id, s.lat, s.lon) for s in sites for d in s.devices]
    return found[:count]


class Reports:
    """MR batches, fast to make (the publisher shares the machine with the pipeline): each
    sample's place near its cell and its indexes drawn from pools made once."""

    def __init__(self, chosen: list[Cell], samples: int, seed: int = 1) -> None:
        rnd = random.Random(seed)
        self.cells, self.samples = chosen, samples
        self.pools = {
            cell: [f'"lat":{lat + rnd.uniform(-0.006, 0.006):.6f},'
                   f'"lon":{lon + rnd.uniform(-0.006, 0.006):.6f},'
                   f'"rsrp_idx":{rnd.randint(35, 100)},"sinr_idx":{rnd.randint(25, 90)}}}'
                   for _ in range(4 * samples)]
            for _, cell, lat, lon in chosen}
        self.seq = 10**6

    def messages(self, count: int, start: datetime, step: float) -> Iterator[SimMessage]:
        """``count`` batches round the cells, ``step`` event seconds apart per round."""
        t0 = start.timestamp()
        for n in range(count):
            site, cell, _, _ = self.cells[n % len(self.cells)]
            at = t0 + n // len(self.cells) * step
            stamp = datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
            pool, k = self.pools[cell], (n * 7) % (3 * self.samples)
            body = ",".join(f'{{"ts":"{stamp}",' + part for part in pool[k:k + self.samples])
            self.seq += 1
            payload = (f'{{"device":"{cell}","seq":{self.seq},"ts":"{stamp}",'
                       f'"samples":[{body}]}}').encode()
            yield SimMessage(at, MR.mqtt_topic(site, cell), payload, cell, (self.seq,))


def baseline_paho(settings: Settings, messages: list[SimMessage], samples: int) -> float:
    """paho QoS 1, the cells publishing and one subscriber: samples/s."""
    return paho_rate(settings, messages, MR.mqtt_filter) * samples


def baseline_kafka(settings: Settings, messages: list[SimMessage], samples: int) -> float:
    """kafka-python producer, one MR batch per record, acks=all: samples/s."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, acks="all", linger_ms=5,
                             compression_type="lz4")
    start = time.perf_counter()
    for m in messages:
        producer.send("bench.mr", key=m.topic.split("/")[2].encode(), value=m.payload)
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return len(messages) * samples / elapsed


def baseline_copy(settings: Settings, messages: list[SimMessage], samples: int) -> float:
    """``COPY`` of the batches as ``mr_readings`` rows (samples as jsonb): samples/s."""
    now = datetime.now(UTC)
    rows = []
    for m in messages:
        body = json.loads(m.payload)
        rows.append((m.topic.split("/")[2], body["device"], body["seq"], body["ts"],
                     json.dumps(body["samples"]), now))
    return copy_rate(settings, "mr_readings",
                     ("site", "device", "seq", "ts", "samples", "ingest_ts"), rows) * samples


def baseline_processors(settings: Settings, messages: list[SimMessage], samples: int) -> float:
    """Both coverage stages stepped in this process, one batch per step: samples/s."""
    catalog = load_catalog()
    parts, sums = CoverageParts(settings, catalog), CoverageSums(settings, catalog)
    decoded = [(m.topic.split("/")[2], MrReading.model_validate_json(m.payload))
               for m in messages]
    counts: dict[str, SiteCounts] = {}
    sums_of: dict[str, AreaSums] = {}
    start = time.perf_counter()
    for site, reading in decoded:
        for out in parts.step(counts.setdefault(site, SiteCounts()), Batch(site, [reading], 0.0)):
            sums.step(sums_of.setdefault(out.key, AreaSums()), Batch(out.key, [out.value], 0.0))
    return len(decoded) * samples / (time.perf_counter() - start)


def scalar(conn: psycopg.Connection, query: str, *args: object) -> float:
    row = conn.execute(query, args).fetchone()
    return float(row[0] or 0) if row is not None else 0.0


def through_pipeline(settings: Settings, parts: Components, conn: psycopg.Connection,
                     reports: Reports, count: int, start: datetime, step: float
                     ) -> dict[str, float]:
    floor = reports.seq
    total = count * reports.samples
    before = scalar(conn, "SELECT sum(samples) FROM coverage_windows WHERE area_type = "
                    "'district'")
    acked0 = (parts.health("bridge") or {}).get("stats", {}).get("acknowledged", 0)
    publisher = DevicePublisher(settings)
    publisher.ack_every, publisher.sync_seconds = 2000, float("inf")
    t0 = time.time()
    done: dict[str, float] = {}

    def watch() -> None:
        """When each stage has all of it (polled every 0.2 s)."""
        while len(done) < 3 and time.time() - t0 < 1800:
            acked = (parts.health("bridge") or {}).get("stats", {}).get("acknowledged", 0)
            if "bridge" not in done and acked - acked0 >= count:
                done["bridge"] = time.time()
            if "sink" not in done and scalar(
                    conn, "SELECT count(*) FROM mr_readings WHERE seq > %s", floor) >= count:
                done["sink"] = scalar(conn, "SELECT extract(epoch FROM max(stored_at)) FROM "
                                      "mr_readings WHERE seq > %s", floor)
            if "processor" not in done and scalar(
                    conn, "SELECT sum(samples) FROM coverage_windows WHERE area_type = "
                    "'district'") - before >= total:
                done["processor"] = time.time()
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    stats = publisher.run(reports.messages(count, start, step))
    published = time.time() - t0
    publisher.close()
    watcher.join()
    wait_for(lambda: len(done) == 3, 5, "every stage done", lambda: done)
    rows, distinct = (int(x) for x in conn.execute(
        "SELECT count(*), count(DISTINCT (device, seq)) FROM mr_readings WHERE seq > %s",
        (floor,)).fetchone())  # type: ignore[union-attr]
    counted = scalar(conn, "SELECT sum(samples) FROM coverage_windows WHERE area_type = "
                     "'district'") - before
    return {"samples": total, "messages": stats.published,
            "publish_samples_per_s": total / published,
            **{f"{stage}_samples_per_s": total / (at - t0) for stage, at in done.items()},
            "lost_batches": count - distinct, "doubled_rows": rows - distinct,
            "samples_counted_minus_sent": counted - total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="how long the offered load lasts at --rate")
    parser.add_argument("--rate", type=float, default=60_000.0,
                        help="samples/s the run is sized for (more than the target)")
    parser.add_argument("--samples", type=int, default=200, help="samples per MR batch")
    parser.add_argument("--cells", type=int, default=60)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fjsense-bench-cells-"))
    home.chmod(0o755)
    settings = isolated_settings(home)
    stack = LocalStack(settings)
    stack.up()
    parts = Components(settings, home / "logs", verbose=False)
    report: dict[str, dict[str, float]] = {}
    try:
        ensure_topics(settings)
        bootstrap(settings)
        reports = Reports(cells(args.cells), args.samples)
        start = datetime.now(UTC) - timedelta(days=2)
        sample = list(reports.messages(2000, start - timedelta(days=5), 1.0))
        report["baseline"] = {
            "paho_qos1_samples_per_s": timed("baseline: paho QoS 1 publish → subscribe",
                                             lambda: baseline_paho(settings, sample,
                                                                   args.samples)),
            "kafka_python_samples_per_s": timed("baseline: kafka-python producer",
                                                lambda: baseline_kafka(settings, sample,
                                                                       args.samples)),
            "copy_samples_per_s": timed("baseline: COPY into mr_readings",
                                        lambda: baseline_copy(settings, sample, args.samples)),
            "processors_in_process_samples_per_s": timed(
                "baseline: both coverage stages in this process",
                lambda: baseline_processors(settings, sample, args.samples)),
        }  # type: ignore[dict-item]
        for name in ("bridge", "worker", "sink"):
            parts.start(name)
        for name in ("bridge", "worker", "sink"):
            parts.wait_ready(name)
        count = int(args.seconds * args.rate / args.samples)
        with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
            # each cell sends a batch per event second: windows close as the run goes on
            report["pipeline"] = timed(  # type: ignore[assignment]
                f"pipeline: {count:,} batches of {args.samples} samples from {args.cells} "
                "cells, unpaced", lambda: through_pipeline(
                    settings, parts, conn, reports, count, start, 1.0))
        servers = {s.name: pid for s in stack.local_services() if (pid := s.pid()) is not None}
        report["rss_mb"] = peak_rss_mb({**servers, **{n: p.pid for n, p in parts.procs.items()}})
        pipe, base = report["pipeline"], report["baseline"]
        report["ratio"] = {
            "bridge_vs_paho_qos1": pipe["bridge_samples_per_s"] / base["paho_qos1_samples_per_s"],
            "sink_vs_copy": pipe["sink_samples_per_s"] / base["copy_samples_per_s"],
            "processor_vs_in_process": pipe["processor_samples_per_s"]
            / base["processors_in_process_samples_per_s"]}
    finally:
        parts.stop_all()
        stack.down()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
