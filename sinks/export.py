"""Export any table or view the reader role may read, as CSV or Parquet, streamed.

CSV goes through ``COPY (SELECT …) TO STDOUT`` (the server formats, nothing is held in
memory), with every timestamp as UTC ISO 8601 (``2026-01-10T18:00:00.000000Z``). Parquet is
written by ``pyarrow`` in row groups from a server-side cursor, with each column's type mapped
from PostgreSQL's (timestamps as UTC timestamps, JSON as text). Statements are composed from
checked identifiers and literals, never from raw text: the table and every ``--where`` column
must exist, and the role must be allowed to read the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import psycopg
from psycopg import sql

from fjsense.registry import registry
from fjsense.topics import all_streams

ROW_GROUP = 50_000  # Parquet rows per row group, fetched per round trip
TIME_TYPES = ("timestamp with time zone", "timestamp without time zone")


class ExportError(ValueError):
    """A request that cannot be exported: the message says why and what would work."""


@dataclass(frozen=True)
class Column:
    """A column of the exported relation: its type decides its CSV text and Parquet type."""

    name: str
    type: str  # format_type() of the column, e.g. "double precision"


def readable_relations(conn: psycopg.Connection) -> list[str]:
    """Tables and views of the public schema the connected role may SELECT from."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p') "
        "AND has_table_privilege(c.oid, 'SELECT') ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def columns_of(conn: psycopg.Connection, relation: str) -> list[Column]:
    """The relation's columns in order (the caller has checked that it is readable)."""
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum", [f"public.{relation}"]).fetchall()
    return [Column(name, kind) for name, kind in rows]


def time_column(relation: str, columns: list[Column], plugins: tuple[str, ...] = ()) -> str:
    """The column ``--since``/``--until`` bound: the one the relation's stream declares (a
    reading's ``ts``, a window's ``window_end``), else the first timestamp column."""
    declared = {s.table.name: s.table.time_column
                for s in all_streams(registry(plugins)).values() if s.table is not None}
    names = {c.name for c in columns}
    if declared.get(relation) in names:
        return declared[relation]
    found = next((c.name for c in columns if c.type in TIME_TYPES), None)
    if found is None:
        raise ExportError(f"{relation} has no timestamp column: --since and --until cannot "
                          "bound it")
    return found


def select(conn: psycopg.Connection, relation: str, since: datetime | None,
           until: datetime | None, where: list[tuple[str, str]], iso_times: bool,
           plugins: tuple[str, ...] = ()) -> tuple[sql.Composed, list[Column]]:
    """The SELECT of an export, checked against what the role may read."""
    readable = readable_relations(conn)
    if relation not in readable:
        raise ExportError(f"no table or view {relation!r} the reader role may read; it may "
                          f"read: {', '.join(readable)}")
    columns = columns_of(conn, relation)
    names = {c.name for c in columns}
    for column, _ in where:
        if column not in names:
            raise ExportError(f"{relation} has no column {column!r}; columns: "
                              f"{', '.join(c.name for c in columns)}")
    conditions: list[sql.Composable] = [
        sql.SQL("{}::text = {}").format(sql.Identifier(column), sql.Literal(value))
        for column, value in where]
    if since is not None or until is not None:
        at = sql.Identifier(time_column(relation, columns, plugins))
        if since is not None:
            conditions.append(sql.SQL("{} >= {}").format(at, sql.Literal(since)))
        if until is not None:
            conditions.append(sql.SQL("{} <= {}").format(at, sql.Literal(until)))
    fields = [_field(c, iso_times) for c in columns]
    query = sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(fields),
                                                 sql.Identifier(relation))
    if conditions:
        query = sql.SQL("{} WHERE {}").format(query, sql.SQL(" AND ").join(conditions))
    order = [sql.Identifier(c.name) for c in columns if c.type in TIME_TYPES][:1]
    if order:
        query = sql.SQL("{} ORDER BY {}").format(query, order[0])
    return query, columns


def _field(column: Column, iso_times: bool) -> sql.Composable:
    name = sql.Identifier(column.name)
    if iso_times and column.type == "timestamp with time zone":
        return sql.SQL("to_char({0} AT TIME ZONE 'UTC', {1}) AS {0}").format(
            name, sql.Literal('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    if column.type.startswith(("json", "numeric", "interval", "uuid", "inet", "ARRAY")) or \
            column.type.endswith("[]"):
        return sql.SQL("{0}::text AS {0}").format(name)
    return name


def export_csv(conn: psycopg.Connection, query: sql.Composed, out: IO[bytes],
               progress: Callable[[int], None] | None = None) -> int:
    """Stream ``query`` as CSV with a header; returns the rows written."""
    rows = 0
    with conn.cursor() as cur, cur.copy(
            sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER)").format(query)) as copy:
        for chunk in copy:  # libpq hands COPY TO data over one row at a time
            out.write(chunk)
            rows += 1
            if progress is not None:
                progress(rows)
    return max(rows - 1, 0)  # the header


def arrow_type(column: Column) -> Any:
    """The Parquet column type of a PostgreSQL type (text for what has no better)."""
    import pyarrow as pa

    kinds = {"double precision": pa.float64(), "real": pa.float32(), "bigint": pa.int64(),
             "integer": pa.int32(), "smallint": pa.int16(), "boolean": pa.bool_(),
             "timestamp with time zone": pa.timestamp("us", tz="UTC"),
             "timestamp without time zone": pa.timestamp("us"), "date": pa.date32(),
             "bytea": pa.binary()}
    return kinds.get(column.type, pa.string())


def export_parquet(conn: psycopg.Connection, query: sql.Composed, columns: list[Column],
                   out: IO[bytes], progress: Callable[[int], None] | None = None) -> int:
    """Write ``query`` as Parquet, one row group per ``ROW_GROUP`` rows; returns the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c.name, arrow_type(c)) for c in columns])
    rows = 0
    with conn.transaction(), conn.cursor(name="fjsense_export") as cur, \
            pq.ParquetWriter(out, schema) as writer:
        cur.itersize = ROW_GROUP
        cur.execute(query)
        while batch := cur.fetchmany(ROW_GROUP):
            writer.write_table(pa.Table.from_arrays(
                [pa.array(values, type=field.type) for values, field in
                 zip(_columns(batch, len(columns)), schema, strict=True)], schema=schema))
            rows += len(batch)
            if progress is not None:
                progress(rows)
    return rows


def _columns(batch: Iterable[tuple[Any, ...]], width: int) -> list[list[Any]]:
    out: list[list[Any]] = [[] for _ in range(width)]
    for row in batch:
        for n, value in enumerate(row):
            out[n].append(value)
    return out
