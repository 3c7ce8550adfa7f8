"""Tables made from record models: the model is the single statement of a table's columns."""

from __future__ import annotations

import types
from datetime import datetime
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from psycopg import sql
from pydantic import AwareDatetime

from fjsense.sensorkind import Table, is_json

SQL_TYPES: dict[Any, str] = {
    float: "double precision", int: "bigint", str: "text", bool: "boolean",
    datetime: "timestamptz", AwareDatetime: "timestamptz", bytes: "bytea",
}


def sql_type(annotation: Any) -> tuple[str, bool]:
    """The PostgreSQL type of a model field, and whether it may be NULL."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return sql_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"no column type for {annotation!r}")
        return sql_type(inner[0])[0], True
    if origin is Literal:
        return sql_type(type(get_args(annotation)[0]))[0], False
    if annotation in SQL_TYPES:
        return SQL_TYPES[annotation], False
    if is_json(annotation):
        return "jsonb", False
    raise TypeError(f"no column type for {annotation!r}")


def create_table(table: Table) -> list[sql.Composable]:
    """CREATE TABLE (and its index) from the model, keyed by its natural key."""
    columns: list[sql.Composable] = []
    for name, annotation, required in table.column_types():
        kind, nullable = sql_type(annotation)
        null = " NOT NULL" if required and not nullable else ""
        columns.append(sql.SQL("{} " + kind + null).format(sql.Identifier(name)))
    columns.append(sql.SQL("stored_at timestamptz NOT NULL DEFAULT now()"))
    columns.append(sql.SQL("PRIMARY KEY ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, table.key))))
    statements: list[sql.Composable] = [sql.SQL("CREATE TABLE {} ({})").format(
        sql.Identifier(table.name), sql.SQL(", ").join(columns))]
    if table.index:
        # index entries may carry an order (e.g. "ts DESC"); names are the project's own
        order = sql.SQL(", ").join(
            sql.SQL(" ").join([sql.Identifier(part.split()[0]),
                               *(sql.SQL(p) for p in part.split()[1:2] if p in ("ASC", "DESC"))])
            for part in table.index)
        statements.append(sql.SQL("CREATE INDEX {} ON {} ({})").format(
            sql.Identifier(f"{table.name}_{'_'.join(p.split()[0] for p in table.index)}"),
            sql.Identifier(table.name), order))
    return statements


def timescale(table: Table) -> list[sql.Composable]:
    """Hypertable, compression and retention for ``table`` (TimescaleDB only)."""
    ts = table.timescale
    if not ts.hypertable:
        return []
    name = sql.Literal(table.name)
    out: list[sql.Composable] = [sql.SQL(
        "SELECT create_hypertable({}, {}, chunk_time_interval => INTERVAL {}, "
        "migrate_data => true)").format(name, sql.Literal(table.time_column),
                                        sql.Literal(ts.chunk))]
    if ts.compress_after is not None:
        options = "timescaledb.compress"
        if ts.segment_by is not None:
            options += f", timescaledb.compress_segmentby = '{ts.segment_by}'"
        out.append(sql.SQL("ALTER TABLE {} SET (" + options + ")").format(
            sql.Identifier(table.name)))
        out.append(sql.SQL("SELECT add_compression_policy({}, INTERVAL {})").format(
            name, sql.Literal(ts.compress_after)))
    if ts.retain is not None:
        out.append(sql.SQL("SELECT add_retention_policy({}, INTERVAL {})").format(
            name, sql.Literal(ts.retain)))
    return out
