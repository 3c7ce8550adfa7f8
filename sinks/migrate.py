"""Versioned migrations: the platform's SQL files, then each sensor kind's steps.

Platform steps are files: ``NNNN_name.sql`` runs everywhere; ``NNNN_name.timescaledb.sql``
runs after it when the ``timescaledb`` extension is available, ``NNNN_name.postgres.sql``
otherwise. A kind's step (version ``kind/NNNN_name``) makes its tables from their models
(hypertables, compression and retention on TimescaleDB) and runs its SQL. TimescaleDB variants
run in the step's transaction too (continuous aggregates are made ``WITH NO DATA``, which
a transaction allows). Statements are sent without parameters (the simple protocol).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg
from psycopg import sql

from fjsense.credentials import Credentials
from fjsense.registry import registry
from fjsense.settings import Settings
from sinks.ddl import create_table, timescale
from sinks.policies import apply_policies

log = logging.getLogger(__name__)

Statements = list[str]


@dataclass(frozen=True)
class Step:
    """One migration step (a kind's or the platform's) with the SQL it runs."""

    version: str
    base: Statements
    timescaledb: Statements
    postgres: Statements


def migrations(plugins: tuple[str, ...] = ()) -> list[Step]:
    """Every step in the order it applies: the platform's, then each kind's."""
    folder = resources.files("sinks").joinpath("migrations")
    texts = {entry.name: entry.read_text(encoding="utf-8") for entry in folder.iterdir()
             if entry.name.endswith(".sql")}
    versions = sorted(name[:-4] for name in texts if name.count(".") == 1)
    steps = [
        Step(v, split_statements(texts[f"{v}.sql"]),
             split_statements(texts.get(f"{v}.timescaledb.sql", "")),
             split_statements(texts.get(f"{v}.postgres.sql", "")))
        for v in versions
    ]
    for kind in registry(plugins).values():
        for m in kind.migrations:
            tables = [s.as_string(None) for t in m.tables for s in create_table(t)]
            hyper = [s.as_string(None) for t in m.tables for s in timescale(t)]
            steps.append(Step(f"{kind.name}/{m.version}", tables + split_statements(m.sql),
                              hyper + split_statements(m.timescaledb),
                              split_statements(m.postgres)))
    return steps


def split_statements(script: str) -> list[str]:
    """Split a script at top-level semicolons (outside quotes, dollar quotes and comments)."""
    statements, current, i = [], [], 0
    token = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\$([A-Za-z_]*)\$.*?\$\1\$|;", re.DOTALL)
    for match in token.finditer(script):
        current.append(script[i:match.start()])
        if match.group() == ";":
            statements.append("".join(current))
            current = []
        elif not match.group().startswith("--"):
            current.append(match.group())
        i = match.end()
    current.append(script[i:])
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]


def has_timescaledb(conn: psycopg.Connection) -> bool:
    """Whether the database has TimescaleDB: tables become hypertables and views continuous
    aggregates only then."""
    row = conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'"
    ).fetchone()
    return bool(row and row[0])


LOCK_ID = 0x666A73656E7365  # pg_advisory_lock key: one migrator at a time ("fjsense")


def migrate(conn: psycopg.Connection, plugins: tuple[str, ...] = ()) -> list[str]:
    """Apply the pending steps on ``conn``; returns what was applied.

    Under a session advisory lock, so concurrent migrators (several containers starting)
    take turns. Each step, variant and its ``schema_migrations`` row included, is one
    transaction: a step that fails leaves the database at the previous version, and a re-run
    applies it again from the start.
    """
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_ID])
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
            "variant text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        timescale = has_timescaledb(conn)
        if timescale:
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        variant = "timescaledb" if timescale else "postgres"
        applied = []
        for step in migrations(plugins):
            if step.version in done:
                continue
            with conn.transaction():
                _run(conn, step.base + (step.timescaledb if timescale else step.postgres))
                conn.execute(sql.SQL(
                    "INSERT INTO schema_migrations (version, variant) VALUES ({}, {})").format(
                    sql.Literal(step.version), sql.Literal(variant)))
            applied.append(step.version)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_ID])


def status(conn: psycopg.Connection, plugins: tuple[str, ...] = ()
           ) -> list[tuple[str, str | None, datetime | None]]:
    """Every step in order, with its variant and time when applied (None when pending)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    applied: dict[str, tuple[str, datetime]] = {}
    if exists and exists[0]:
        applied = {v: (variant, at) for v, variant, at in conn.execute(
            "SELECT version, variant, applied_at FROM schema_migrations")}
    return [(s.version, *applied.get(s.version, (None, None))) for s in migrations(plugins)]


def _run(conn: psycopg.Connection, statements: Statements) -> None:
    for statement in statements:
        # migration files are the project's own SQL, not user input
        conn.execute(statement)  # type: ignore[call-overload]


def grant(conn: psycopg.Connection, writer: str, reader: str) -> None:
    """The sink writes as ``writer``; dashboards read as ``reader`` and can change nothing."""
    w, r = sql.Identifier(writer), sql.Identifier(reader)
    for statement in (
        "GRANT USAGE ON SCHEMA public TO {w}, {r}",
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {w}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {r}",
        "GRANT DELETE ON aggregate_refresh TO {w}",  # it clears the notes it refreshed
    ):
        conn.execute(sql.SQL(statement).format(w=w, r=r))
    if has_timescaledb(conn):  # only an aggregate's owner may refresh it (sinks/refresh.py)
        for (view,) in conn.execute(
                "SELECT view_name FROM timescaledb_information.continuous_aggregates").fetchall():
            conn.execute(sql.SQL("ALTER MATERIALIZED VIEW {} OWNER TO {}").format(
                sql.Identifier(view), w))


def bootstrap(settings: Settings) -> list[str]:
    """Create the database and roles when missing, migrate, and grant; returns what was applied."""
    creds = Credentials(settings)
    name = settings.database.name
    with psycopg.connect(creds.dsn("admin", dbname="postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for role in ("writer", "reader"):
            login = creds.db(role)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login.username])
            verb = "ALTER" if exists.fetchone() else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(login.username), sql.Literal(login.password)))
    with psycopg.connect(creds.dsn("admin")) as conn:
        applied = migrate(conn, settings.plugins)
        grant(conn, creds.db("writer").username, creds.db("reader").username)
        if has_timescaledb(conn):
            for change in apply_policies(conn, settings):
                log.warning("policy changed: %s", change)
    return applied
