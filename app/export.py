"""`fjsense export TABLE`: any table or view the reader role may read, as CSV or Parquet, to a
file or to standard output ("can I have that in Excel")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO

import psycopg

from fjsense.arguments import instant
from fjsense.credentials import Credentials
from fjsense.settings import Settings
from sinks.export import ExportError, export_csv, export_parquet, select

PROGRESS_EVERY = 100_000  # rows between progress lines on a terminal


def condition(text: str) -> tuple[str, str]:
    """``COLUMN=VALUE`` of ``--where``."""
    column, sep, value = text.partition("=")
    if not sep or not column:
        raise argparse.ArgumentTypeError(f"not COLUMN=VALUE: {text!r}")
    return column, value


def cmd_export(settings: Settings, args: argparse.Namespace) -> None:
    """Export as the reader role; progress and the count go to stderr, never into the data."""
    if args.format == "parquet" and args.out is None and sys.stdout.isatty():
        raise SystemExit("error: Parquet is binary: give --out FILE or redirect the output")
    shown = [0]

    def progress(rows: int) -> None:
        if sys.stderr.isatty() and rows - shown[0] >= PROGRESS_EVERY:
            shown[0] = rows
            print(f"\r{rows:,} rows…", end="", file=sys.stderr, flush=True)

    with psycopg.connect(Credentials(settings).dsn("reader")) as conn:
        try:
            query, columns = select(conn, args.table, args.since, args.until, args.where,
                                    iso_times=args.format == "csv", plugins=settings.plugins)
        except ExportError as exc:
            raise SystemExit(f"error: {exc}") from None
        target: IO[bytes] = open(args.out, "wb") if args.out else sys.stdout.buffer  # noqa: SIM115
        try:
            if args.format == "csv":
                rows = export_csv(conn, query, target, progress)
            else:
                rows = export_parquet(conn, query, columns, target, progress)
        finally:
            if args.out:
                target.close()
    if shown[0]:
        print(file=sys.stderr)  # end the progress line
    where = f" to {args.out}" if args.out else ""
    print(f"exported {rows} rows of {args.table}{where}", file=sys.stderr)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """`fjsense export TABLE [--since ISO] [--until ISO] [--where COLUMN=VALUE …]
    [--format csv|parquet] [--out FILE]`."""
    p = sub.add_parser("export", help="a table or view the reader role may read, as CSV or "
                       "Parquet (times in UTC ISO 8601)")
    p.set_defaults(func=cmd_export)
    p.add_argument("table", help="a table or view, e.g. pue_windows, pue_hourly, alert_events")
    p.add_argument("--since", type=instant, metavar="ISO",
                   help="rows whose time is at or after (the table's time column)")
    p.add_argument("--until", type=lambda t: instant(t, end=True), metavar="ISO",
                   help="rows whose time is at or before (a date alone: to its end)")
    p.add_argument("--where", type=condition, action="append", default=[],
                   metavar="COLUMN=VALUE", help="rows whose column, as text, equals the value "
                   "(repeatable: all must hold)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv")
    p.add_argument("--out", type=Path, metavar="FILE", help="default: standard output")
