"""Late data reaches the continuous aggregates: exactly the buckets written into are refreshed.

Why: TimescaleDB's refresh policy of an aggregate looks back a fixed span (``pue_hourly``: 3
days), so a replay or a backfill older than that never reaches the stored aggregate, and with
real-time aggregation the view shows the stale materialized rows for those hours
(timescaledb #7960, #3546). Refreshing everything would redo years of buckets for one late
row. So the sink notes, in the transaction that writes a table's rows, each bucket of each
aggregate over that table (``note_statement``, table ``aggregate_refresh``), and
``refresh_noted`` refreshes those buckets, runs of adjacent ones in one call, and nothing
else; then it clears the notes it read (a bucket noted again meanwhile keeps its note for the
next round). ``refresh_span`` refreshes every aggregate over a span by hand
(``fjsense db refresh``). On plain PostgreSQL the aggregates are views, always current: the
notes are only cleared.

TimescaleDB lets only an aggregate's owner refresh it, so the migrations make the sink's
role (the writer) its owner (``sinks/migrate.py``: ``grant``); aggregates are derived data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from fjsense.sensorkind import Table

ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # time_bucket's default origin (a Monday)
Span = tuple[str, datetime, datetime]  # view, from (inclusive), to (exclusive)


def bucket_of(at: datetime, width: timedelta) -> datetime:
    """The start of the bucket ``at`` falls in, as ``time_bucket(width, at)`` has it."""
    return ORIGIN + ((at - ORIGIN) // width) * width


def moment(value: Any) -> datetime | None:
    """A row's time as the sink holds it (ISO text as the record carried it, or a datetime);
    None for what the database will refuse, or read in its own time zone (no offset)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def note_statement(table: Table, rows: Sequence[tuple[Any, ...]]) -> sql.Composed | None:
    """The statement that notes every bucket ``rows`` fall in, per aggregate over ``table``
    (None when no aggregate reads it). A time the database will refuse is no bucket."""
    if not table.timescale.aggregates:
        return None
    at = table.columns.index(table.time_column)
    times = {t for row in rows if (t := moment(row[at])) is not None}
    noted = sorted({(aggregate.view, start, start + aggregate.bucket)
                    for aggregate in table.timescale.aggregates for t in times
                    for start in [bucket_of(t, aggregate.bucket)]})
    if not noted:
        return None
    return sql.SQL(
        "INSERT INTO aggregate_refresh (view, bucket, bucket_end) VALUES {} "
        "ON CONFLICT (view, bucket) DO UPDATE SET noted_at = clock_timestamp()"
    ).format(sql.SQL(", ").join(sql.SQL("({})").format(sql.SQL(", ").join(map(sql.Literal, n)))
                                for n in noted))


def spans(buckets: Sequence[Span]) -> list[Span]:
    """Buckets of a view merged where they meet: one refresh call per run."""
    merged: list[Span] = []
    for view, start, end in sorted(buckets):
        if merged and merged[-1][0] == view and merged[-1][2] >= start:
            merged[-1] = (view, merged[-1][1], max(merged[-1][2], end))
        else:
            merged.append((view, start, end))
    return merged


async def continuous_aggregates(conn: psycopg.AsyncConnection) -> list[str]:
    """The continuous aggregates of the database (none without TimescaleDB)."""
    exists = await (await conn.execute(
        "SELECT to_regclass('timescaledb_information.continuous_aggregates') IS NOT NULL"
    )).fetchone()
    if not exists or not exists[0]:
        return []
    return [r[0] for r in await (await conn.execute(
        "SELECT view_name FROM timescaledb_information.continuous_aggregates "
        "ORDER BY view_name")).fetchall()]


async def _refresh(conn: psycopg.AsyncConnection, view: str, start: datetime | None,
                   end: datetime | None) -> None:
    """One refresh call (outside a transaction block, as TimescaleDB requires); None: open."""
    await conn.execute(sql.SQL("CALL refresh_continuous_aggregate({}, {}, {})").format(
        sql.Literal(view), sql.Literal(start), sql.Literal(end)))


async def refresh_noted(conn: psycopg.AsyncConnection) -> list[Span]:
    """Refresh the noted buckets of every continuous aggregate, then clear the notes read;
    returns the spans refreshed. ``conn`` is in autocommit mode."""
    noted = await (await conn.execute(
        "SELECT view, bucket, bucket_end, noted_at FROM aggregate_refresh")).fetchall()
    if not noted:
        return []
    known = set(await continuous_aggregates(conn))
    done = spans([(view, start, end) for view, start, end, _ in noted if view in known])
    for view, start, end in done:
        await _refresh(conn, view, start, end)
    await conn.execute(sql.SQL(
        "DELETE FROM aggregate_refresh WHERE (view, bucket, noted_at) IN ({})").format(
        sql.SQL(", ").join(sql.SQL("({}, {}, {})").format(
            sql.Literal(view), sql.Literal(start), sql.Literal(at))
            for view, start, _, at in noted)))
    return done


async def refresh_span(conn: psycopg.AsyncConnection, since: datetime | None,
                       until: datetime | None) -> list[Span]:
    """Refresh every continuous aggregate from ``since`` to ``until`` (None: open); returns
    the spans refreshed, open ends as the oldest and newest datetimes."""
    done = []
    for view in await continuous_aggregates(conn):
        await _refresh(conn, view, since, until)
        done.append((view, since or datetime.min.replace(tzinfo=UTC),
                     until or datetime.max.replace(tzinfo=UTC)))
    return done
