"""The PostgreSQL/TimescaleDB sink: COPY into a staging table, then insert what is new."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql

from fjsense.kinds.base import Table


class PostgresSink:
    """Implements ``sinks.contract.Sink``; one connection, one transaction per flush, one COPY
    per table per flush."""

    def __init__(self, conn: psycopg.AsyncConnection) -> None:
        self.conn = conn
        self._rows: dict[Table, list[tuple[Any, ...]]] = defaultdict(list)

    def add(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        self._rows[table].extend(rows)

    async def flush(self) -> dict[str, int]:
        stored: dict[str, int] = {}
        if not self._rows:
            return stored
        async with self.conn.transaction():
            for table, rows in self._rows.items():
                stored[table.name] = await self._write(table, rows)
        self._rows.clear()
        return stored

    async def _write(self, table: Table, rows: list[tuple[Any, ...]]) -> int:
        stage = sql.Identifier(f"stage_{table.name}")
        cols = sql.SQL(", ").join(map(sql.Identifier, table.columns))
        await self.conn.execute(sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
            "ON COMMIT DELETE ROWS").format(stage, sql.Identifier(table.name)))
        async with self.conn.cursor() as cur:
            async with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(stage, cols)) as copy:
                for row in rows:
                    await copy.write_row(row)
            await cur.execute(sql.SQL(
                "INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT DO NOTHING"
            ).format(table=sql.Identifier(table.name), cols=cols, stage=stage))
            return cur.rowcount
