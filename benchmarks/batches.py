"""Counts the batch objects of a topic's partitions, as the broker keeps them.

Why: the embedded broker lists every batch object of a partition on each fetch below its end,
so what its fetches cost grows with batches, not records (``benchmarks/broker_fetch.py``).
Clients hide batches, so this reads each partition from offset 0 with raw Fetch v4 requests
and counts the record batches in the answers (a fetch may start inside a batch and answer the
whole batch: only records at or after the offset asked for count, and a batch counts once).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from kafka.protocol.old.fetch import FetchRequest_v4, FetchResponse_v4
from kafka.record.memory_records import MemoryRecords

MAX_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class PartitionBatches:
    """One partition: its records and the batch objects holding them."""

    partition: int
    records: int
    batches: int


def _exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        data += chunk
    return bytes(data)


def _fetch(sock: socket.socket, topic: str, partition: int, offset: int, n: int) -> bytes:
    request = FetchRequest_v4(-1, 100, 1, MAX_BYTES, 0,
                              [(topic, [(partition, offset, MAX_BYTES)])])
    request.with_header(correlation_id=n, client_id="fjsense-batches")
    sock.sendall(request.encode(header=True, framed=True))
    size = struct.unpack(">i", _exactly(sock, 4))[0]
    response = FetchResponse_v4.decode(_exactly(sock, size), header=True)
    [(_, [(_, error, _, _, _, records)])] = response.responses  # type: ignore[attr-defined]
    if error:
        raise RuntimeError(f"fetch of {topic}[{partition}] at {offset}: error code {error}")
    return bytes(records or b"")


def count_batches(servers: str, topic: str, partitions: int) -> list[PartitionBatches]:
    """Records and batch objects of each of ``topic``'s partitions (read from offset 0)."""
    host, port = servers.split(",")[0].rsplit(":", 1)
    out = []
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        n = 0
        for partition in range(partitions):
            offset = records = batches = 0
            while True:
                n += 1
                memory = MemoryRecords(_fetch(sock, topic, partition, offset, n))
                moved = False
                while (batch := memory.next_batch()) is not None:
                    taken = [r.offset for r in batch if r.offset >= offset]
                    if taken:
                        records += len(taken)
                        batches += 1
                        offset = taken[-1] + 1
                        moved = True
                if not moved:
                    break
            out.append(PartitionBatches(partition, records, batches))
    return out


def busiest_partitions(servers: str, topics: list[str], partitions: int) -> dict[str, float]:
    """Per topic, its busiest partition's records and batch objects (``{topic}.records``,
    ``{topic}.batches``): the figures a benchmark prints beside its rates."""
    out: dict[str, float] = {}
    for topic in topics:
        busiest = max(count_batches(servers, topic, partitions), key=lambda p: p.records)
        out[f"{topic}.records"] = busiest.records
        out[f"{topic}.batches"] = busiest.batches
    return out
