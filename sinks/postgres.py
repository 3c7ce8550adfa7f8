"""The PostgreSQL/TimescaleDB sink: COPY into a staging table, then insert what is new.

A row the database refuses (a constraint, a value out of a column's range, text that is no
timestamp) must not stop the sink nor replay its batch for ever: the batch is written again
record by record, and within a failing record row by row (each under a savepoint). The rows
refused go to ``dead_letters`` with stage ``sink`` and the database's reason, in the same
transaction as the rest. A lost connection is not a refusal: it propagates, for the runner to
wait out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from fjsense.sensorkind import Table
from fjsense.topics import DEADLETTER, PLATFORM_STREAMS
from sinks.refresh import note_statement

log = logging.getLogger(__name__)

DEAD_LETTERS: Table = next(s.table for s in PLATFORM_STREAMS if s.topic == DEADLETTER
                           and s.table is not None)
Group = tuple[str, int, list[tuple[Any, ...]]]  # one Kafka record: topic, timestamp (ms), rows


class PostgresSink:
    """Implements ``sinks.contract.Sink``; one transaction per flush, one COPY per table."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn
        self._groups: dict[Table, list[Group]] = defaultdict(list)

    def add(self, table: Table, rows: list[tuple[Any, ...]], source: str,
            timestamp_ms: int) -> None:
        """Stage the rows of one Kafka record for ``table``."""
        self._groups[table].append((source, timestamp_ms, rows))

    async def flush(self) -> dict[str, int]:
        """Write what is staged in one transaction (COPY into a temporary table, then insert
        what is new): a repeat stores nothing twice."""
        if not self._groups:
            return {}
        try:
            async with self.conn.transaction():
                stored = {table.name: await self._write(table, [r for _, _, rows in groups
                                                                for r in rows])
                          for table, groups in self._groups.items()}
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.warning("the database refused a batch (%s); writing it record by record", exc)
            stored = await self._one_by_one()
        self._groups.clear()
        return stored

    async def _one_by_one(self) -> dict[str, int]:
        stored: dict[str, int] = defaultdict(int)
        refused: list[tuple[Any, ...]] = []
        async with self.conn.transaction():
            for table, groups in self._groups.items():
                for source, timestamp_ms, rows in groups:
                    try:
                        async with self.conn.transaction():
                            stored[table.name] += await self._write(table, rows)
                        continue
                    except psycopg.OperationalError:
                        raise
                    except psycopg.Error:
                        pass  # this record holds the refused row(s): find them
                    for row in rows:
                        try:
                            async with self.conn.transaction():
                                stored[table.name] += await self._write(table, [row])
                        except psycopg.OperationalError:
                            raise
                        except psycopg.Error as exc:
                            refused.append(_refusal(table, source, timestamp_ms, row, exc))
            if refused:
                stored[DEAD_LETTERS.name] += await self._write(DEAD_LETTERS, refused)
        return dict(stored)

    async def _write(self, table: Table, rows: list[tuple[Any, ...]]) -> int:
        stage = sql.Identifier(f"stage_{table.name}")
        cols = sql.SQL(", ").join(map(sql.Identifier, table.columns))
        await self.conn.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS").format(stage, sql.Identifier(table.name)))
        async with self.conn.cursor() as cur:
            await cur.execute(sql.SQL("TRUNCATE {}").format(stage))
            async with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
                for row in (_last_per_key(table, rows) if table.upsert else rows):
                    await copy.write_row(row)
            await cur.execute(sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} {conflict}"
            ).format(table=sql.Identifier(table.name), cols=cols, stage=stage,
                     conflict=_on_conflict(table)))
            written = cur.rowcount
            if (note := note_statement(table, rows)) is not None:
                await cur.execute(note)  # the aggregates' buckets, in the rows' transaction
            return written


def _on_conflict(table: Table) -> sql.Composable:
    """A duplicate is absorbed; in an upsert table, a row sent again replaces the stored one."""
    if not table.upsert:
        return sql.SQL("ON CONFLICT DO NOTHING")
    rest = [c for c in table.columns if c not in table.key]
    return sql.SQL("ON CONFLICT ({}) DO UPDATE SET {}").format(
        sql.SQL(", ").join(map(sql.Identifier, table.key)),
        sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in rest))


def _last_per_key(table: Table, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One row per key, the last sent (one INSERT may not update a row twice)."""
    at = [table.columns.index(c) for c in table.key]
    return list({tuple(row[n] for n in at): row for row in rows}.values())


def _refusal(table: Table, source: str, timestamp_ms: int, row: tuple[Any, ...],
             exc: psycopg.Error) -> tuple[Any, ...]:
    """A ``dead_letters`` row for a row the database refused, with the database's reason.
    Its time is the Kafka record's, so a replayed record gives the same (absorbed) row."""
    payload = json.dumps(dict(zip(table.columns, row, strict=True)), default=str).encode()
    reason = f"{table.name}: {exc.diag.message_primary or exc}"
    if exc.diag.sqlstate:
        reason += f" (SQLSTATE {exc.diag.sqlstate})"
    log.error("stored as a dead letter: %s", reason)
    received = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    return (received, "sink", reason, source, payload, hashlib.sha256(payload).hexdigest())
