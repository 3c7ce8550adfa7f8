"""Soak benchmark: the whole pipeline on the embedded stack until its busiest partition holds
``--records`` Kafka records.

Why: the embedded broker (Tansu 0.6) keeps every record (no retention, no compaction) and lists
a partition's every batch object on each fetch below its end, so what a run of minutes never
shows, a run of days does: fetches that come back empty once the listing outlasts the
consumer's wait, and a pipeline that stalls. This takes a week of the demo's traffic (one
reading per Kafka record, as sites send one reading every few seconds) as fast as the pipeline
takes it: meters publish one-reading MQTT messages, the bridge sends one record per reading
(``ingest.batch_readings`` 1), the worker and the sink take them.

Measured, one JSON line on stdout (progress on stderr):
- ``busiest_partition_records``: the most records any partition of any topic holds at the end;
- ``readings`` published, ``stored`` (distinct (device, seq) rows), ``lost``, ``doubled``;
- ``max_stall_s``: after warm-up, the longest time the pipeline had readings to store (a chunk
  being published, or readings published and not stored yet) and stored none. The driver's
  own pause between chunks (it counts the partitions' records, then builds the next chunk) is
  not counted once the pipeline has stored everything published: a pipeline that keeps up
  would otherwise show that pause as a stall;
- ``broker_rss_mb``: the broker's resident memory at the end; ``broker_records``, what it holds
  in all topics; ``broker_rss_mb_per_million``, what its memory grew by per million of those;
- ``elapsed_s``, and ``drain_s``: how long the pipeline took to store the rest once publishing
  stopped (at most ``--drain-seconds``; what it has not stored by then counts as lost);
- the in-run baseline: stored readings/s over the first fifth of the run (small partitions)
  against the last fifth, as ``ratio.late_vs_early``.

``python -m benchmarks.soak [--records N] [--chunk M] [--drain-seconds S]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from kafka import KafkaConsumer, TopicPartition

from benchmarks.e2e import Readings, new_rows, stored_count
from benchmarks.stack import embedded_stack
from fjsense.credentials import Credentials
from fjsense.kafka_ends import end_offsets
from fjsense.settings import Settings
from fjsense.stack import isolated_settings
from simulators.publisher import DevicePublisher

WARM_UP_S = 30.0  # components settle, tables are created, first windows close
POLL_S = 0.5  # how often stored rows are counted


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


Chunk = tuple[float, float, int]  # publishing began, ended (monotonic); readings published by then


def longest_stall(samples: list[tuple[float, int]], start: float, end: float,
                  chunks: list[Chunk]) -> float | None:
    """The longest time within [start, end] during which the pipeline owed readings (a chunk
    was being published, or fewer were stored than the chunks published) and the stored count
    did not rise; ``samples`` are (time, stored so far). None for a run that ended within its
    warm-up (nothing was watched)."""
    if end <= start:
        return None

    def owed(at: float, stored: int) -> bool:
        published = max((total for _, ended, total in chunks if ended <= at), default=0)
        return stored < published or any(began <= at <= ended for began, ended, _ in chunks)

    longest, since, before = 0.0, None, None
    for at, stored in samples:
        rose = before is not None and stored > before
        before = stored
        if not start <= at <= end:
            continue
        if rose and since is not None:
            longest = max(longest, at - since)
        if rose or not owed(at, stored):
            since = at if owed(at, stored) else None
        elif since is None:
            since = at
    if since is not None:
        longest = max(longest, end - since)
    return longest


class StoredWatch(threading.Thread):
    """Counts stored readings every ``POLL_S`` and keeps when the count last rose."""

    def __init__(self, settings: Settings, since: float) -> None:
        super().__init__(daemon=True)
        self.dsn, self.since = Credentials(settings).dsn("admin"), since
        self.samples: list[tuple[float, int]] = []  # (monotonic time, rows stored so far)
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.wait(POLL_S):
                self.samples.append((time.monotonic(), new_rows(conn, self.since)))

    def max_stall(self, start: float, end: float, chunks: list[Chunk]) -> float | None:
        """``longest_stall`` of what this watch counted."""
        return longest_stall(self.samples, start, end, chunks)

    def rate(self, start: float, end: float) -> float:
        """Stored readings per second within [start, end]."""
        inside = [(t, n) for t, n in self.samples if start <= t <= end]
        if len(inside) < 2:
            return 0.0
        (t0, n0), (t1, n1) = inside[0], inside[-1]
        return (n1 - n0) / (t1 - t0)


def partition_records(settings: Settings) -> tuple[int, int]:
    """(the most records any partition of any topic holds, the records of all), from the real
    ends (read from the last batches)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka.servers, fetch_max_wait_ms=50)
    try:
        partitions = [TopicPartition(topic, p) for topic in consumer.topics()
                      for p in consumer.partitions_for_topic(topic) or ()]
        ends = end_offsets(settings, consumer, partitions).values()
        return max(ends, default=0), sum(ends)
    finally:
        consumer.close()


def rss_mb(pid: int) -> float:
    """Resident memory of a process now, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines()
                if line.startswith("VmRSS")) / 1024


def soak(settings: Settings, broker_pid: int, target: int, chunk: int, drain_s: float
         ) -> dict[str, float | None]:
    """Publish chunks of one-reading messages until the busiest partition holds ``target``."""
    readings = Readings()
    floor = readings.new_run()  # every chunk's seq numbers lie above it, each new
    rss_before = rss_mb(broker_pid)
    begun = time.time()
    watch = StoredWatch(settings, begun - 1)
    watch.start()
    start = time.monotonic()
    published, busiest, at = 0, 0, datetime.now(UTC) - timedelta(days=30)
    chunks: list[Chunk] = []
    while busiest < target:
        messages = readings.history(chunk, 1, at, step=1.0)
        at = datetime.fromtimestamp(messages[-1].at, UTC) + timedelta(seconds=1)
        publisher = DevicePublisher(settings)
        publisher.ack_every, publisher.sync_seconds = 2000, float("inf")
        began = time.monotonic()
        published += len(publisher.run(messages).valid)
        chunks.append((began, time.monotonic(), published))
        publisher.close()
        busiest, _ = partition_records(settings)
        log(f"  {published:,} readings published, busiest partition {busiest:,} records, "
            f"broker {rss_mb(broker_pid):,.0f} MB, {time.monotonic() - start:,.0f} s")
    publishing_ended = time.monotonic()
    with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
        deadline = time.monotonic() + drain_s
        while new_rows(conn, begun - 1) < published and time.monotonic() < deadline:
            time.sleep(1.0)  # what is not stored by then counts as lost
        drained_s = time.monotonic() - publishing_ended
        rows, distinct = stored_count(conn, floor)
    watch.stop.set()
    watch.join()
    end = time.monotonic()
    fifth = (publishing_ended - start) / 5
    early = watch.rate(start + WARM_UP_S, start + WARM_UP_S + fifth)
    late = watch.rate(publishing_ended - fifth, publishing_ended)
    broker = rss_mb(broker_pid)
    busiest, everything = partition_records(settings)
    return {"busiest_partition_records": busiest, "readings": published, "stored": distinct,
            "lost": published - distinct, "doubled": rows - distinct,
            "max_stall_s": watch.max_stall(start + WARM_UP_S, publishing_ended, chunks),
            "broker_rss_mb": broker, "broker_records": everything,
            "broker_rss_mb_per_million": (broker - rss_before) / max(everything, 1) * 1e6,
            "elapsed_s": end - start, "drain_s": drained_s,
            "early_stored_per_s": early, "late_stored_per_s": late,
            "ratio": {"late_vs_early": late / early if early else None}}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=300_000,
                        help="stop once the busiest partition holds this many Kafka records "
                        "(default: about a week of the demo's rate)")
    parser.add_argument("--chunk", type=int, default=20_000,
                        help="one-reading messages published between two looks at the partitions")
    parser.add_argument("--drain-seconds", type=float, default=600.0,
                        help="after publishing, how long the pipeline may take to store the rest "
                        "(what it has not stored by then counts as lost)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="fjsense-soak-"))
    home.chmod(0o755)
    base = isolated_settings(home)
    settings = Settings(**{**base.model_dump(),
                           "ingest": {**base.ingest.model_dump(), "batch_readings": 1}})
    with embedded_stack(settings, home) as (stack, parts):
        for name in ("bridge", "worker", "sink"):
            parts.start(name)
        parts.wait_ready("bridge")
        parts.wait_ready("worker")
        broker_pid = next(pid for s in stack.local_services()
                          if s.name == "tansu" and (pid := s.pid()) is not None)
        log(f"soak: until a partition holds {args.records:,} records, {args.chunk:,} readings "
            "at a time")
        report = soak(settings, broker_pid, args.records, args.chunk, args.drain_seconds)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else
                          {n: None if r is None else round(r, 3) for n, r in v.items()}
                          if isinstance(v, dict) else v for k, v in report.items()}))


if __name__ == "__main__":
    main()
