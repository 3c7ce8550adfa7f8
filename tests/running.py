"""The bridge, worker and sink as child processes against a test's servers, and counting
rows: what the end-to-end kind tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from app.processes import Components
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from sinks.migrate import bootstrap


@contextmanager
def pipeline(settings: Settings, logs: Path, also: tuple[str, ...] = (),
             core: tuple[str, ...] = ("bridge", "worker", "sink")
             ) -> Iterator[psycopg.Connection]:
    """Migrated database, bridge, worker and sink (``core``: fewer where a test needs only
    raw readings stored, which spares the worker's start) and ``also`` (e.g. the HJ 212
    gateway) ready, alerts without a group wait; yields an admin connection, stops them all."""
    bootstrap(settings)
    parts = Components(settings, logs, FJSENSE_ALERTS__GROUP_WAIT_SECONDS="0")
    names = (*core, *also)
    for name in names:
        parts.start(name)
    try:
        for name in names:
            parts.wait_ready(name)
        with psycopg.connect(Credentials(settings).dsn("admin"), autocommit=True) as conn:
            yield conn
    finally:
        parts.stop_all()


def count(conn: psycopg.Connection, query: str, *args: object) -> int:
    return conn.execute(query, args).fetchone()[0]  # type: ignore[index]
