"""Scale-out benchmark: how fast 1, 2 and 3 workers take a backlog of meter readings.

Why: several workers share the partitions of one consumer group (``fjsense worker
--health-port``, ``fjsense run --workers N``), but on one host they also share its cores with
the broker. This measures what adding a worker gives here, so that a larger host can be judged
from it.

For each worker count, on an embedded stack of its own (Tansu, PostgreSQL on free ports):
``--sites`` datacenters (a facility and an IT meter each, 10-second readings) put
``--records`` Kafka records on ``fj.raw.power``, one per site and step (both meters' readings,
as the bridge batches them per site); the workers, all ready and sharing the partitions, take
them. Throughput is records / (the last record taken by the PUE processor − the first one
sent), read from the workers' own ``/health`` (``taken:pue``).
Raw baseline in the same run: a bare Kafka consumer reading the same records
(``ratio.workers_1_vs_bare``).

Prints one JSON line. ``python -m benchmarks.scale [--records N] [--sites S] [--max-workers W]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from app.processes import Components, wait_for
from benchmarks.stack import embedded_stack
from fjsense.settings import Settings
from fjsense.stack import isolated_settings
from fjsense.stack.service import free_port

SOURCE = "fj.raw.power"
STEP = timedelta(seconds=10)


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def site(n: int) -> str:
    return f"scale-{n:04d}"


def write_catalog(path: Path, sites: int) -> None:
    """``sites`` datacenters in 10 regions, a facility and an IT meter each."""
    lines = ["regions:"] + [f"  - {{id: scale-r{r}, name: Scale region {r}}}" for r in range(10)]
    lines += ["sites:"] + [
        f"  - {{id: {site(n)}, name: Scale site {n}, kind: power, region: scale-r{n % 10}, "
        f"lat: 26.0, lon: 119.3, it_design_kw: 1000, devices: ["
        f"{{id: {site(n)}-f, circuit: facility, rated_kw: 2000}}, "
        f"{{id: {site(n)}-i, circuit: it, rated_kw: 1200}}]}}" for n in range(sites)]
    path.write_text("\n".join(lines) + "\n")


def backlog(records: int, sites: int) -> list[tuple[bytes, bytes]]:
    """(key, value) per site and step: both meters' readings at one time, counters rising."""
    start = datetime.now(UTC) - timedelta(days=1)
    out = []
    for i in range(records):
        n, step = i % sites, i // sites
        at = (start + step * STEP).isoformat()
        it_kwh, facility_kwh = 700 * step * 10 / 3600, 910 * step * 10 / 3600
        value = [{"device": f"{site(n)}-f", "seq": step, "ts": at, "circuit": "facility",
                  "kw": 910.0, "kwh": 1000.0 + facility_kwh},
                 {"device": f"{site(n)}-i", "seq": step, "ts": at, "circuit": "it",
                  "kw": 700.0, "kwh": 1000.0 + it_kwh}]
        out.append((site(n).encode(), json.dumps(value).encode()))
    return out


def produce(settings: Settings, records: list[tuple[bytes, bytes]]) -> tuple[float, dict[int, int]]:
    """Send every record; when the first went, and the last offset of each partition."""
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, acks="all", linger_ms=5)
    first = time.time()
    futures = [producer.send(SOURCE, key=k, value=v) for k, v in records]
    producer.flush()
    last: dict[int, int] = {}
    for future in futures:
        meta = future.get(30)
        last[meta.partition] = max(last.get(meta.partition, -1), meta.offset)
    producer.close()
    return first, last


def bare(settings: Settings, last: dict[int, int]) -> float:
    """Records/s of a bare consumer reading the same partitions from the start."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.servers, fetch_max_wait_ms=50,
                             enable_auto_commit=False)
    parts = [TopicPartition(SOURCE, p) for p in last]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    done: dict[int, int] = {}
    start = time.time()
    while any(done.get(p, -1) < off for p, off in last.items()):
        for tp, got in consumer.poll(timeout_ms=500).items():
            done[tp.partition] = got[-1].offset
    elapsed = time.time() - start
    consumer.close()
    return (sum(last.values()) + len(last)) / elapsed


def run_workers(settings: Settings, parts: Components, count: int,
                records: list[tuple[bytes, bytes]]) -> dict[str, float]:
    """``count`` workers ready and sharing the partitions, then the backlog; records/s."""
    ports = {"worker": settings.health.worker_port,
             **{f"worker-{n}": free_port() for n in range(2, count + 1)}}
    for name, port in ports.items():
        parts.start(name, "worker" if name == "worker" else f"worker --health-port {port}")
    for name, port in ports.items():
        parts.wait_ready(name, timeout=180, port=port)

    def taken() -> dict[int, int]:
        """Per partition of the source: the last offset the PUE processor took in."""
        out: dict[int, int] = {}
        for name, port in ports.items():
            report = parts.health(name, port) or {}
            for partition, (done, _end) in (report.get("taken:pue") or {}).items():
                if done is not None:
                    out[int(partition)] = done
        return out

    wait_for(lambda: sum(len((parts.health(n, p) or {}).get("taken:pue") or {})
                         for n, p in ports.items()) == settings.kafka.partitions, 90,
             "the workers to share the partitions")
    first, last = produce(settings, records)
    log(f"  {count} worker(s): {len(records):,} records sent in {time.time() - first:.1f} s")
    wait_for(lambda: all(taken().get(p, -1) >= off for p, off in last.items()), 1800,
             "the workers to take the backlog", taken)
    elapsed = time.time() - first
    return {"records_per_s": len(records) / elapsed, "elapsed_s": elapsed,
            "bare_records_per_s": bare(settings, last)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--max-workers", type=int, default=3)
    args = parser.parse_args()
    records = backlog(args.records, args.sites)
    results: dict[str, dict[str, float]] = {}
    for count in range(1, args.max_workers + 1):
        home = Path(tempfile.mkdtemp(prefix="fjsense-bench-scale-"))
        home.chmod(0o755)
        write_catalog(home / "sites.yaml", args.sites)
        base = isolated_settings(home)
        settings = base.model_copy(update={
            "catalog": base.catalog.model_copy(update={"file": home / "sites.yaml"})})
        log(f"{count} worker(s): {args.records:,} records from {args.sites} sites")
        try:
            with embedded_stack(settings, home) as (_, parts):
                results[str(count)] = run_workers(settings, parts, count, records)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    one = results["1"]["records_per_s"]
    print(json.dumps({
        "records": args.records, "readings": 2 * args.records, "sites": args.sites,
        "cores": os.cpu_count(),
        "workers": {n: {k: round(v, 1) for k, v in r.items()} for n, r in results.items()},
        "ratio": {"workers_1_vs_bare": round(one / results["1"]["bare_records_per_s"], 4),
                  **{f"workers_{n}_vs_1": round(r["records_per_s"] / one, 3)
                     for n, r in results.items() if n != "1"}}}))


if __name__ == "__main__":
    main()
