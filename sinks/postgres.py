"""The PostgreSQL/TimescaleDB sink: COPY into a staging table, then insert what is new."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql

from sinks.tables import TableSpec


class PostgresSink:
    """Implements ``sinks.contract.Sink``; one connection, one transaction per flush."""

    def __init__(self, conn: psycopg.AsyncConnection, specs: dict[str, TableSpec]) -> None:
        self.conn = conn
        self.specs = specs
        self._rows: dict[str, list[tuple[Any, ...]]] = defaultdict(list)

    def add(self, topic: str, record: dict[str, Any]) -> None:
        self._rows[topic].append(self.specs[topic].to_row(record))

    async def flush(self) -> dict[str, int]:
        stored: dict[str, int] = {}
        if not self._rows:
            return stored
        async with self.conn.transaction():
            for topic, rows in self._rows.items():
                spec = self.specs[topic]
                stored[spec.table] = await self._write(spec, rows)
        self._rows.clear()
        return stored

    async def _write(self, spec: TableSpec, rows: list[tuple[Any, ...]]) -> int:
        stage = sql.Identifier(f"stage_{spec.table}")
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        await self.conn.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS").format(stage, sql.Identifier(spec.table)))
        async with self.conn.cursor() as cur:
            async with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING"
            ).format(table=sql.Identifier(spec.table), cols=cols, stage=stage))
            return cur.rowcount
