"""The embedded broker's cost per fetch as its log grows (why the alert engine's latency target
is missed on the embedded stack, README "Benchmarks").

In one run, on an embedded Tansu of its own: records go to ``fj.raw.power`` at ``--rate``/s in
one-record batches (as every embedded producer must send them), for ``--rounds`` rounds of
``--seconds``; the broker's CPU share is read from ``/proc`` per round. Raw baseline: the same
produce load with no consumer. Then one consumer follows the tail (50 ms fetch wait, as the
sink's) and each round's CPU share is printed against the log's length, with the ratio of the
last round's share to the baseline's. Prints one JSON line.
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

from kafka import KafkaConsumer, KafkaProducer

from benchmarks.e2e import log
from fjsense.kafka_admin import TANSU_FETCH_WAIT_MS, TANSU_ONE_RECORD_PER_BATCH, ensure_topics
from fjsense.stack import LocalStack, isolated_settings

TOPIC = "fj.raw.power"
VALUE = b'[{"device": "x-m01", "seq": 1, "ts": "2026-01-01T00:00:00Z", "kw": 500.0}]'


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def produce(producer: KafkaProducer, rate: float, seconds: float, sent: int) -> int:
    start = time.time()
    for i in range(int(rate * seconds)):
        if (pause := start + i / rate - time.time()) > 0:
            time.sleep(pause)
        producer.send(TOPIC, key=str((sent + i) % 100).encode(), value=VALUE)
    producer.flush()
    return sent + int(rate * seconds)


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
        ensure_topics(settings)
        pid = tansu.pid()
        assert pid is not None
        producer = KafkaProducer(bootstrap_servers=settings.kafka.servers, linger_ms=0,
                                 batch_size=TANSU_ONE_RECORD_PER_BATCH)

        def share(sent: int) -> tuple[int, float]:
            before, t0 = cpu_seconds(pid), time.time()
            sent = produce(producer, args.rate, args.seconds, sent)
            return sent, 100 * (cpu_seconds(pid) - before) / (time.time() - t0)

        log(f"baseline: {args.rate:,.0f} records/s, no consumer")
        sent, baseline = share(0)
        consumer = KafkaConsumer(TOPIC, bootstrap_servers=settings.kafka.servers,
                                 group_id="bench", auto_offset_reset="earliest",
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
            log(f"round {n + 1}: {sent:,} records in the log, broker CPU {cpu:.0f}%")
        stop.set()
        reader.join(5)
        consumer.close()
        producer.close()
        print(json.dumps({"rate": args.rate, "baseline_broker_cpu_pct": round(baseline, 1),
                          "rounds": rounds,
                          "ratio_last_vs_baseline": round(rounds[-1]["broker_cpu_pct"] /
                                                          max(baseline, 0.1), 2)}))
    finally:
        tansu.stop()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
