"""Retention and compression ages per table, from the settings (TimescaleDB only).

Statements go without parameters (the simple protocol), as the migrations do.

Why: each table declares the ages it is created with (a kind's ``Timescale``, the platform's
SQL), but how long a province keeps its data, or when it may compress it, is an operator's
choice that differs per table and changes after the tables exist. ``database.retention`` and
``database.compress_after`` name a table's age; ``apply_policies`` (run by ``fjsense db
migrate``) replaces that table's policy when it differs, and leaves every table not named as
declared. ``none`` removes a retention policy (rows kept for ever).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from fjsense.settings import Settings

NONE = "none"
# setting -> (its jobs' procedure, the jobs' config key, the functions that add and remove it)
POLICIES = {"retention": ("policy_retention", "drop_after", "add_retention_policy",
                          "remove_retention_policy"),
            "compress_after": ("policy_compression", "compress_after", "add_compression_policy",
                               "remove_compression_policy")}


def current_age(conn: psycopg.Connection, table: str, proc: str, key: str) -> str | None:
    """The age in ``table``'s policy job, or None without one."""
    row = conn.execute(sql.SQL(
        "SELECT config->>{} FROM timescaledb_information.jobs WHERE proc_name = {} "
        "AND hypertable_name = {}").format(*map(sql.Literal, (key, proc, table)))).fetchone()
    return row[0] if row else None


def apply_policies(conn: psycopg.Connection, settings: Settings) -> list[str]:
    """Make each named table's policies say the settings' ages; returns what changed, e.g.
    ``retention power_readings: 400 days -> 800 days``. Refuses a table that is no
    hypertable, an age that is no interval, and compression for a table never compressed."""
    wanted = {"retention": settings.database.retention,
              "compress_after": settings.database.compress_after}
    hypertables = {r[0] for r in conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables")}
    compressed = {r[0] for r in conn.execute(
        "SELECT hypertable_name FROM timescaledb_information.hypertables "
        "WHERE compression_enabled")}
    changed = []
    for setting, ages in wanted.items():
        proc, key, add, remove = POLICIES[setting]
        for table, age in sorted(ages.items()):
            if table not in hypertables:
                raise ValueError(f"database.{setting}: {table} is no hypertable "
                                 f"(they are: {', '.join(sorted(hypertables))})")
            if setting == "compress_after" and table not in compressed:
                raise ValueError(f"database.compress_after: {table} is not compressed")
            if setting == "compress_after" and age == NONE:
                raise ValueError("database.compress_after: give an age; compression stays on")
            now = current_age(conn, table, proc, key)
            if age != NONE:
                same = conn.execute(sql.SQL("SELECT {}::interval = {}::interval").format(
                    sql.Literal(age), sql.Literal(now))).fetchone()
                if now is not None and same and same[0]:
                    continue
            elif now is None:
                continue
            name = sql.Literal(table)
            conn.execute(sql.SQL(f"SELECT {remove}({{}}, if_exists => true)").format(name))
            if age != NONE:
                conn.execute(sql.SQL(f"SELECT {add}({{}}, {{}}::interval)").format(
                    name, sql.Literal(age)))
            changed.append(f"{setting} {table}: {now or 'none'} -> {age}")
    return changed
