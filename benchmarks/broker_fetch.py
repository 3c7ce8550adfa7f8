"""The embedded broker's cost per fetch as its log grows, with one-record batches (as every
embedded producer sent them before issue 20) and with batches as the bridge now sends them.

In one run, on an embedded Tansu of its own, for each way of batching: records go to a topic of
its own at ``--rate``/s, 100 keys over the topic's partitions, for ``--rounds`` rounds of
``--seconds``; the broker's CPU share is read from ``/proc`` per round. Raw baseline: the same
produce load with no consumer. Then one consumer follows the tail (50 ms fetch wait, as the
sink's) and each round's CPU share is printed against the log's length, with the ratio of the
last round's share to the baseline's, and the batch objects the busiest partition holds at the
end (``benchmarks/batches.py``). ``one_record``: ``batch_size=1``, a record sent every
1/rate s. ``batched``: the bridge's producer (``linger_ms=0``, the default ``batch_size``),
sent in bursts every ``ingest.linger_ms`` (20 ms), as the bridge flushes its per-key batches.
Prints one JSON line.
``python -m benchmarks.broker_fetch [--rate 1000] [--rounds 8] [--seconds 8]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from benchmarks.batches import count_batches
from benchmarks.e2e import log
from fjsense.kafka_admin import TANSU_FETCH_WAIT_MS
from fjsense.settings import Settings
from fjsense.stack import LocalStack, isolated_settings

VALUE = b'[{"device": "x-m01", "seq": 1, "ts": "2026-01-01T00:00:00Z", "kw": 500.0}]'
KEYS = 100
BURST_SECONDS = 0.02  # the bridge's ingest.linger_ms
MODES = {"one_record": {"batch_size": 1}, "batched": {}}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def produce(producer: KafkaProducer, topic: str, rate: float, seconds: float, sent: int,
            burst: float) -> int:
    """``rate * seconds`` records, sent every ``burst`` seconds (0: one at a time)."""
    start = time.time()
    step = max(int(rate * burst), 1)
    for i in range(0, int(rate * seconds), step):
        if (pause := start + i / rate - time.time()) > 0:
            time.sleep(pause)
        for k in range(i, min(i + step, int(rate * seconds))):
            producer.send(topic, key=str((sent + k) % KEYS).encode(), value=VALUE)
    producer.flush()
    return sent + int(rate * seconds)


def measure(settings: Settings, pid: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """One way of batching: the baseline, then the rounds with a consumer at the tail."""
    topic = f"bench.fetch.{mode}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka.servers)
    admin.create_topics([NewTopic(topic, settings.kafka.partitions, 1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, linger_ms=0,
                             **MODES[mode])
    burst = 0.0 if mode == "one_record" else BURST_SECONDS

    def share(sent: int) -> tuple[int, float]:
        before, t0 = cpu_seconds(pid), time.time()
        sent = produce(producer, topic, args.rate, args.seconds, sent, burst)
        return sent, 100 * (cpu_seconds(pid) - before) / (time.time() - t0)

    log(f"{mode}: baseline, {args.rate:,.0f} records/s, no consumer")
    sent, baseline = share(0)
    consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka.servers,
                             group_id=f"bench-{mode}", auto_offset_reset="earliest",
                             fetch_max_wait_ms=TANSU_FETCH_WAIT_MS)
    stop = threading.Event()
    taken = [0]

    def follow() -> None:
        while not stop.is_set():
            taken[0] += sum(len(r) for r in consumer.poll(100).values())

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    while taken[0] < sent:  # the consumer joined and caught up
        time.sleep(0.2)
    rounds = []
    for n in range(args.rounds):
        sent, cpu = share(sent)
        rounds.append({"log_records": sent, "broker_cpu_pct": round(cpu, 1),
                       "consumed": taken[0]})
        log(f"{mode} round {n + 1}: {sent:,} records in the log, broker CPU {cpu:.0f}%")
    stop.set()
    reader.join(5)
    consumer.close()
    producer.close()
    busiest = max(count_batches(settings.kafka.servers, topic, settings.kafka.partitions),
                  key=lambda p: p.records)
    return {"baseline_broker_cpu_pct": round(baseline, 1), "rounds": rounds,
            "ratio_last_vs_baseline": round(rounds[-1]["broker_cpu_pct"] / max(baseline, 0.1), 2),
            "busiest_partition_records": busiest.records,
            "busiest_partition_batches": busiest.batches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fjsense-bench-broker-"))
    settings = isolated_settings(home)
    tansu = LocalStack(settings).tansu  # the broker alone
    tansu.start()
    try:
        pid = tansu.pid()
        assert pid is not None
        result: dict[str, Any] = {"rate": args.rate}
        for mode in MODES:
            result[mode] = measure(settings, pid, mode, args)
        result["ratio"] = {
            "batches_one_record_vs_batched": round(
                result["one_record"]["busiest_partition_batches"]
                / max(result["batched"]["busiest_partition_batches"], 1), 1),
            "cpu_last_round_one_record_vs_batched": round(
                result["one_record"]["rounds"][-1]["broker_cpu_pct"]
                / max(result["batched"]["rounds"][-1]["broker_cpu_pct"], 0.1), 2)}
        print(json.dumps(result))
    finally:
        tansu.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
